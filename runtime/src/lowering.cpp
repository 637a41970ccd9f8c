#include "lowering.h"

#include <algorithm>

#include "kiln/driver/command_buffer.h"
#include "kiln/kernels/kernel_registry.h"

namespace kiln::runtime {

namespace {

uint64_t address_of(const View& v, const std::vector<Placement>& placement) {
  const Placement& p = placement[static_cast<std::size_t>(v.value)];
  return driver::bound(p.slot, p.offset + static_cast<uint64_t>(v.offset) * dtype_size(v.dtype));
}

// The kernel layer counts dim 0 as the innermost: numpy order reversed.
kernels::TensorDesc desc(const View& v, const std::vector<Placement>& placement) {
  kernels::TensorDesc t;
  t.address = address_of(v, placement);
  t.dtype = v.dtype;
  const int rank = static_cast<int>(v.shape.size());
  t.rank = rank;
  for (int d = 0; d < rank; ++d) {
    t.dims[static_cast<std::size_t>(d)] = v.shape[static_cast<std::size_t>(rank - 1 - d)];
    t.strides[static_cast<std::size_t>(d)] = v.strides[static_cast<std::size_t>(rank - 1 - d)];
  }
  return t;
}

View output_view(const Graph& g, int value) {
  const Value& v = g.values[static_cast<std::size_t>(value)];
  return View{value, v.shape, contiguous_strides(v.shape), 0, v.dtype};
}

// A numpy axis of a tensor of rank r, as the kernel layer counts it.
int64_t kernel_axis(int64_t axis, std::size_t rank) { return static_cast<int64_t>(rank) - 1 - axis; }

// NCHW -> NHWC as a view (the pooling and resize kernels read NHWC): no data moves.
View to_nhwc(View v) {
  const Shape s = v.shape, st = v.strides;
  v.shape = {s[0], s[2], s[3], s[1]};
  v.strides = {st[0], st[2], st[3], st[1]};
  return v;
}

// Ops whose kernel computes each output element from the same element of
// every input (broadcast inputs repeat theirs): their index space is the
// output's elements in any order.
bool elementwise(OpKind op) {
  return op == OpKind::kFusedElementwise || op == OpKind::kCast || op == OpKind::kWhere || op == OpKind::kCopy ||
         is_unary(op) || is_binary(op) || is_compare(op);
}

// Merges the dims that every operand of an elementwise kernel walks as one
// (outer stride = inner stride * inner size; broadcast inputs expanded to the
// output's rank with stride 0), and drops the output's size-1 dims: a kernel's
// vectors run along its innermost dim, so an add of [1, 2048, 7, 7] used 7
// of a vector's 64 lanes where the same bytes as [100352] fill them all.
// `views`: the inputs, then the output. Unchanged when nothing merges.
void coalesce_elementwise(std::vector<View>& views) {
  const Shape& out = views.back().shape;
  const std::size_t rank = out.size(), count = views.size();
  if (rank < 2) return;
  // Per operand, its stride along each output dim (0 where it broadcasts).
  std::vector<Shape> strides(count, Shape(rank, 0));
  for (std::size_t i = 0; i < count; ++i) {
    const View& v = views[i];
    if (v.shape.size() > rank) return;
    const std::size_t pad = rank - v.shape.size();
    for (std::size_t d = 0; d < v.shape.size(); ++d) {
      if (v.shape[d] != 1) strides[i][pad + d] = v.strides[d];
    }
  }
  Shape merged;
  std::vector<Shape> merged_strides(count);
  for (std::size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    bool joins = !merged.empty();
    for (std::size_t i = 0; joins && i < count; ++i) joins = merged_strides[i].back() == strides[i][d] * out[d];
    if (joins) {
      merged.back() *= out[d];
      for (std::size_t i = 0; i < count; ++i) merged_strides[i].back() = strides[i][d];
    } else {
      merged.push_back(out[d]);
      for (std::size_t i = 0; i < count; ++i) merged_strides[i].push_back(strides[i][d]);
    }
  }
  if (merged.empty() || merged.size() == rank) return;
  for (std::size_t i = 0; i < count; ++i) {
    views[i].shape = merged;
    views[i].strides = merged_strides[i];
  }
}

// The library kernel of an op: its own name, but for these.
std::string kernel_of(OpKind op) {
  switch (op) {
    case OpKind::kMaximum: return "max";
    case OpKind::kMinimum: return "min";
    case OpKind::kGeluErf: return "gelu_erf";
    case OpKind::kReduceSum: return "reduce_sum";
    case OpKind::kReduceMean: return "reduce_mean";
    case OpKind::kReduceMax: return "reduce_max";
    case OpKind::kReduceMin: return "reduce_min";
    case OpKind::kReduceProd: return "reduce_prod";
    case OpKind::kCopy: return "permute";
    case OpKind::kFill: return "fill";
    case OpKind::kMatmul:
    case OpKind::kConv2d:
      return {};
    default: return std::string(op_name(op));
  }
}


// The stride a run of dims collapses to (their elements evenly spaced), 0
// if they are all broadcast, or -1 if they do not collapse.
int64_t collapsed_stride(const Shape& shape, const Shape& strides, std::size_t end) {
  int64_t stride = -1, expected = -1;
  bool all_broadcast = true;
  for (std::size_t i = end; i-- > 0;) {
    if (shape[i] == 1) continue;
    if (strides[i] != 0) all_broadcast = false;
    if (stride < 0) {
      stride = strides[i];
    } else if (strides[i] != expected) {
      return -1;
    }
    expected = strides[i] * shape[i];
  }
  if (all_broadcast) return 0;
  return stride < 0 ? 0 : stride;
}

Result<Job> lower_matmul(const Graph& g, const Node& n, const std::vector<Placement>& placement,
                         const LowerOptions& options) {
  const View& a = n.inputs[0];
  const View& b = n.inputs[1];
  const View c = output_view(g, n.outputs[0]);
  const std::size_t r = c.shape.size();
  const Shape batch(c.shape.begin(), c.shape.end() - 2);
  const uint64_t m = static_cast<uint64_t>(c.shape[r - 2]), nn = static_cast<uint64_t>(c.shape[r - 1]);
  const uint64_t k = static_cast<uint64_t>(a.shape[a.shape.size() - 1]);
  auto d = mme::gemm_descriptor(static_cast<uint32_t>(m), static_cast<uint32_t>(k), static_cast<uint32_t>(nn),
                                a.dtype, b.dtype, c.dtype, static_cast<uint32_t>(std::max<int64_t>(1, numel(batch))));
  // Operands are read in place, row-major or transposed (legalisation copied
  // any that could be read neither way).
  const std::optional<MmeOperandRead> ra = mme_operand_read(a, batch), rb = mme_operand_read(b, batch);
  if (!ra || !rb) {
    return internal_error("matmul: operand " + std::string(ra ? "B" : "A") +
                          " cannot be read in place by the matrix engine (legalisation should have copied it)");
  }
  d.lda = ra->ld;
  d.ldb = rb->ld;
  if (ra->transposed) d.flags |= mme::kTransposeA;
  if (rb->transposed) d.flags |= mme::kTransposeB;
  d.batch_stride_a = static_cast<uint64_t>(collapsed_stride(a.shape, a.strides, a.shape.size() - 2));
  d.batch_stride_b = static_cast<uint64_t>(collapsed_stride(b.shape, b.strides, b.shape.size() - 2));
  d.a_addr = address_of(a, placement);
  d.b_addr = address_of(b, placement);
  d.c_addr = address_of(c, placement);
  if (!n.attrs.ints.empty() && n.attrs.ints[0] != 0) {
    d.flags |= mme::kHasBias;
    d.bias_addr = address_of(n.inputs[2], placement);
  }
  if (n.attrs.ints.size() > 1) d.activation = static_cast<uint8_t>(n.attrs.ints[1]);
  // TF32 when the program allows it: its numerics and the engine's TF32 rate.
  if (options.allow_tf32 && a.dtype == DType::kF32 && b.dtype == DType::kF32) d.flags |= mme::kTf32;
  Job job;
  job.kind = Job::Kind::kMme;
  job.queue = kMmeQueue;
  job.descriptor = d;
  return job;
}

Result<Job> lower_conv(const Graph& g, const Node& n, const std::vector<Placement>& placement,
                       const LowerOptions& options) {
  const View& x = n.inputs[0];
  const View& w = n.inputs[1];
  const View y = output_view(g, n.outputs[0]);
  // stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, has_bias, activation,
  // pad_bottom, pad_right, groups
  const auto& a = n.attrs.ints;
  mme::Descriptor d = mme::conv2d_descriptor(
      static_cast<uint32_t>(x.shape[0]), static_cast<uint32_t>(x.shape[1]), static_cast<uint32_t>(x.shape[2]),
      static_cast<uint32_t>(x.shape[3]), static_cast<uint32_t>(w.shape[0]), static_cast<uint32_t>(w.shape[2]),
      static_cast<uint32_t>(w.shape[3]), x.dtype, w.dtype, y.dtype, static_cast<uint32_t>(a[10]));
  d.stride_h = static_cast<uint32_t>(a[0]);
  d.stride_w = static_cast<uint32_t>(a[1]);
  d.pad_top = static_cast<uint32_t>(a[2]);
  d.pad_left = static_cast<uint32_t>(a[3]);
  d.pad_bottom = static_cast<uint32_t>(a[8]);
  d.pad_right = static_cast<uint32_t>(a[9]);
  d.dilation_h = static_cast<uint32_t>(a[4]);
  d.dilation_w = static_cast<uint32_t>(a[5]);
  if (options.allow_tf32 && x.dtype == DType::kF32 && w.dtype == DType::kF32) d.flags |= mme::kTf32;
  // Legalisation left the input dense NCHW, or an NHWC tensor's permute.
  if (!x.contiguous() && x.channels_last()) d.flags |= mme::kChannelsLastInput;
  d.a_addr = address_of(x, placement);
  d.b_addr = address_of(w, placement);
  d.c_addr = address_of(y, placement);
  if (a[6] != 0) {
    d.flags |= mme::kHasBias;
    d.bias_addr = address_of(n.inputs[2], placement);
  }
  d.activation = static_cast<uint8_t>(a[7]);
  Job job;
  job.kind = Job::Kind::kMme;
  job.queue = kMmeQueue;
  job.descriptor = d;
  return job;
}

// A custom op's kernel (custom_op.h): inputs then outputs, then its scalars.
Result<Job> lower_custom(const Graph& g, const Node& n, const std::vector<Placement>& placement) {
  if (n.attrs.ints.size() < 2) return internal_error("custom op (" + n.label + ") has no kernel id");
  Job job;
  job.kind = Job::Kind::kTpc;
  job.queue = kTpcQueue;
  job.kernel_id = static_cast<uint64_t>(n.attrs.ints[1]);
  for (const View& in : n.inputs) job.args.add_tensor(desc(in, placement));
  for (int out : n.outputs) job.args.add_tensor(desc(output_view(g, out), placement));
  for (std::size_t i = 2; i < n.attrs.ints.size(); ++i) job.args.add_int(n.attrs.ints[i]);
  for (double f : n.attrs.floats) job.args.add_float(static_cast<float>(f));
  if (job.args.overflowed) {
    return invalid_argument("custom op '" + n.label + "': too many tensors or scalars for one kernel launch");
  }
  return job;
}

}  // namespace

uint64_t view_address(const View& v, const std::vector<Placement>& placement) { return address_of(v, placement); }

std::optional<MmeOperandRead> mme_operand_read(const View& v, const Shape& out_batch, bool transposed_ok) {
  const std::size_t r = v.shape.size();
  if (r < 2 || v.offset < 0) return std::nullopt;
  const Shape batch(v.shape.begin(), v.shape.end() - 2);
  // Its batch must be the output's whole batch, or all broadcast.
  const int64_t stride = collapsed_stride(v.shape, v.strides, r - 2);
  if (stride < 0) return std::nullopt;
  if (numel(batch) != 1 && stride != 0) {
    Shape padded(out_batch.size() - std::min(out_batch.size(), batch.size()), 1);
    padded.insert(padded.end(), batch.begin(), batch.end());
    if (padded != out_batch) return std::nullopt;
  }
  const int64_t rows = v.shape[r - 2], cols = v.shape[r - 1];
  const int64_t row_stride = v.strides[r - 2], col_stride = v.strides[r - 1];
  // Row-major: unit stride along a row, rows at least a row apart.
  if ((col_stride == 1 || cols == 1) && (rows == 1 || row_stride >= cols)) {
    return MmeOperandRead{false, static_cast<uint64_t>(rows == 1 ? cols : row_stride)};
  }
  // Transposed: stored cols x rows row-major, unit stride down a column,
  // columns at least a column apart.
  if (transposed_ok && (row_stride == 1 || rows == 1) && (cols == 1 || col_stride >= rows)) {
    return MmeOperandRead{true, static_cast<uint64_t>(cols == 1 ? rows : col_stride)};
  }
  return std::nullopt;
}

Result<Job> lower_node(const Graph& g, const Node& n, const std::vector<Placement>& placement,
                       const LowerOptions& options) {
  if (n.op == OpKind::kMatmul) return lower_matmul(g, n, placement, options);
  if (n.op == OpKind::kConv2d) return lower_conv(g, n, placement, options);
  if (n.op == OpKind::kCustom) return lower_custom(g, n, placement);
  std::string kernel = kernel_of(n.op);
  const bool arg = n.op == OpKind::kArgmax || n.op == OpKind::kArgmin;
  if (arg && n.attrs.ints.size() > 1 && n.attrs.ints[1] != 0) kernel += "_last";  // ties go to the last index
  if (kernel.empty()) return internal_error("no lowering for op '" + std::string(op_name(n.op)) + "'");
  Job job;
  job.kind = Job::Kind::kTpc;
  job.queue = kTpcQueue;
  job.kernel_id = kernels::kernel_id(kernel);
  kernels::KernelArgs& args = job.args;
  const bool pooling = n.op == OpKind::kMaxPool2d || n.op == OpKind::kAvgPool2d ||
                       n.op == OpKind::kGlobalAvgPool2d || n.op == OpKind::kGlobalMaxPool2d ||
                       n.op == OpKind::kResize;
  std::vector<View> views;
  for (const View& in : n.inputs) views.push_back(pooling ? to_nhwc(in) : in);
  for (int out : n.outputs) views.push_back(output_view(g, out));
  if (elementwise(n.op) && n.outputs.size() == 1) coalesce_elementwise(views);
  for (const View& v : views) args.add_tensor(desc(v, placement));
  const std::size_t rank = n.inputs.empty() ? views.back().shape.size() : views.front().shape.size();
  switch (n.op) {
    case OpKind::kReduceSum: case OpKind::kReduceMean: case OpKind::kReduceMax: case OpKind::kReduceMin:
    case OpKind::kReduceProd: case OpKind::kArgmax: case OpKind::kArgmin: case OpKind::kSoftmax: case OpKind::kLogSoftmax:
    case OpKind::kConcat: case OpKind::kGather:
      args.add_int(kernel_axis(n.attrs.ints[0], rank));
      break;
    case OpKind::kCumsum:  // axis, exclusive, reverse
      args.add_int(kernel_axis(n.attrs.ints[0], rank));
      args.add_int(n.attrs.ints[1]);
      args.add_int(n.attrs.ints[2]);
      break;
    case OpKind::kLayerNorm: case OpKind::kRmsNorm: case OpKind::kAddLayerNorm: case OpKind::kAddRmsNorm:
      args.add_int(n.attrs.ints[0]);
      args.add_float(static_cast<float>(n.attrs.floats[0]));
      break;
    case OpKind::kBatchNorm:
      args.add_int(kernel_axis(1, rank));  // NC... : the channel axis
      args.add_float(static_cast<float>(n.attrs.floats[0]));
      break;
    case OpKind::kCopy:
      for (std::size_t d = 0; d < rank; ++d) args.add_int(static_cast<int64_t>(d));  // identity permutation
      break;
    case OpKind::kMaxPool2d: case OpKind::kAvgPool2d: case OpKind::kPad:
      for (int64_t v : n.attrs.ints) args.add_int(v);
      for (double v : n.attrs.floats) args.add_float(static_cast<float>(v));
      break;
    default:
      for (int64_t v : n.attrs.ints) args.add_int(v);
      for (double v : n.attrs.floats) args.add_float(static_cast<float>(v));
      break;
  }
  if (args.overflowed) {
    return invalid_argument(std::string(op_name(n.op)) + ": too many tensors or arguments for one kernel launch");
  }
  return job;
}

}  // namespace kiln::runtime
