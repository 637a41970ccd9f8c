// Tensors made on the device from shapes and counts: Range,
// ConstantOfShape, EyeLike, the index masks of Trilu and OneHot (arange
// compared with arange), and the Hann, Hamming and Blackman windows. Shape
// and Size that were not folded (fold.h) are refused here with the reason.
#include <cmath>

#include "lowering.h"
#include "proto_io.h"
#include "shape_math.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

// j - i over an [n, m] grid, int32 on the device.
Result<Tensor> diagonal_offsets(runtime::Runtime& rt, int64_t n, int64_t m) {
  KILN_ASSIGN_OR_RETURN(Tensor cols, rt.arange(m, DType::kI32));
  KILN_ASSIGN_OR_RETURN(cols, cols.reshape({1, m}));
  KILN_ASSIGN_OR_RETURN(Tensor rows, rt.arange(n, DType::kI32));
  KILN_ASSIGN_OR_RETURN(rows, rows.reshape({n, 1}));
  return rt::sub(cols, rows);
}

}  // namespace

void add_make_ops(OpTable& t) {
  for (const char* op : {"Shape", "Size"})
    t[op] = {[](const CheckContext&) { return std::string("the input's shape is not static (known at load)"); },
             [](LowerContext&) -> Status { return internal_error("not foldable"); }};

  // start + i * delta for i < max(ceil((limit - start) / delta), 0).
  t["Range"] = {[](const CheckContext& c) {
                  return first_of({require_dtypes(c, 0, {DType::kF32, DType::kI32, DType::kI64}), require_host(c, 0, "start"),
                                   require_host(c, 1, "limit"), require_host(c, 2, "delta")});
                },
                [](LowerContext& c) -> Status {
                  KILN_ASSIGN_OR_RETURN(auto start_t, c.host(0));
                  KILN_ASSIGN_OR_RETURN(double start, c.host_scalar(0));
                  KILN_ASSIGN_OR_RETURN(double limit, c.host_scalar(1));
                  KILN_ASSIGN_OR_RETURN(double delta, c.host_scalar(2));
                  if (delta == 0) return invalid_argument("delta is 0");
                  const auto n = static_cast<int64_t>(std::max(std::ceil((limit - start) / delta), 0.0));
                  if (n == 0) return put(c, device_full(c.rt, {0}, 0, start_t->dtype));
                  const DType dt = start_t->dtype;
                  // Integer ranges are made in int32 (the device's integer fill) and cast.
                  const DType work = is_float(dt) ? dt : DType::kI32;
                  constexpr double kI32Range = 2147483647.0;
                  if (!is_float(dt) && (std::abs(start) > kI32Range || std::abs(start + (n - 1) * delta) > kI32Range))
                    return invalid_argument("integer range beyond int32 is not supported");
                  KILN_ASSIGN_OR_RETURN(Tensor r, c.rt.arange(n, work));
                  if (delta != 1) { KILN_ASSIGN_OR_RETURN(r, rt::mul(r, delta)); }
                  if (start != 0) { KILN_ASSIGN_OR_RETURN(r, rt::add(r, start)); }
                  return put(c, rt::cast(r, dt));
                },
                {0, 1, 2}};

  t["ConstantOfShape"] = {[](const CheckContext& c) {
                            for (const auto& a : c.node.attribute())
                              if (a.name() == "value" && !to_kiln_dtype(a.t().data_type()))
                                return "value of dtype " + onnx_dtype_name(a.t().data_type()) + " is not supported";
                            return require_host(c, 0, "shape");
                          },
                          [](LowerContext& c) -> Status {
                            KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, c.host_ints(0));
                            DType dt = DType::kF32;
                            double value = 0;
                            for (const auto& a : c.node.attribute()) {
                              if (a.name() != "value") continue;
                              KILN_ASSIGN_OR_RETURN(HostTensor h, from_tensor_proto(a.t(), "ConstantOfShape value"));
                              if (h.numel() != 1) return invalid_argument("value must hold one element");
                              dt = h.dtype;
                              value = h.at(0);
                            }
                            return put(c, device_full(c.rt, rt::Shape(shape.begin(), shape.end()), value, dt));
                          },
                          {0}};

  t["EyeLike"] = {[](const CheckContext& c) {
                    if (c.rank(0) != 2) return std::string("input must be 2-D");
                    if (has_attr(c.node, "dtype") && !to_kiln_dtype(static_cast<int32_t>(attr_int(c.node, "dtype", 1))))
                      return "dtype " + onnx_dtype_name(static_cast<int32_t>(attr_int(c.node, "dtype", 1))) + " is not supported";
                    return require_dtypes(c, 0, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64, DType::kBool});
                  },
                  [](LowerContext& c) -> Status {
                    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, c.shape_of(0));
                    DType dt = DType::kF32;
                    if (has_attr(c.node, "dtype")) {
                      dt = *to_kiln_dtype(static_cast<int32_t>(attr_int(c.node, "dtype", 1)));
                    } else {
                      KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                      dt = x.dtype();
                    }
                    KILN_ASSIGN_OR_RETURN(Tensor d, diagonal_offsets(c.rt, shape[0], shape[1]));
                    KILN_ASSIGN_OR_RETURN(Tensor k, c.rt.full({}, static_cast<double>(attr_int(c.node, "k", 0)), DType::kI32));
                    KILN_ASSIGN_OR_RETURN(Tensor on, rt::eq(d, k));
                    return put(c, rt::cast(on, dt));
                  }};

  // Trilu: keep j - i >= k (upper) or <= k (lower) over the last two dims.
  t["Trilu"] = {[](const CheckContext& c) {
                  return first_of({require_dtypes(c, 0, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64, DType::kBool}),
                                   c.rank(0) >= 0 && c.rank(0) < 2 ? "input rank below 2" : "", require_host(c, 1, "k")});
                },
                [](LowerContext& c) -> Status {
                  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                  if (x.rank() < 2) return invalid_argument("input " + x.describe() + " has rank below 2");
                  if (x.numel() == 0) { c.out(0, x); return {}; }
                  int64_t k = 0;
                  if (c.has(1)) { KILN_ASSIGN_OR_RETURN(auto ks, c.host_ints(1)); if (ks.size() != 1) return invalid_argument("k must hold one value"); k = ks[0]; }
                  KILN_ASSIGN_OR_RETURN(Tensor d, diagonal_offsets(c.rt, x.dim(-2), x.dim(-1)));
                  // k beyond the grid: clamp, so that the int32 compare stays exact.
                  k = std::clamp<int64_t>(k, -x.dim(-2) - 1, x.dim(-1) + 1);
                  KILN_ASSIGN_OR_RETURN(Tensor kt, c.rt.full({}, static_cast<double>(k), DType::kI32));
                  const bool upper = attr_int(c.node, "upper", 1) != 0;
                  KILN_ASSIGN_OR_RETURN(Tensor keep, upper ? rt::ge(d, kt) : rt::le(d, kt));
                  KILN_ASSIGN_OR_RETURN(Tensor zero, device_full(c.rt, {}, 0, x.dtype()));
                  return put(c, rt::where(keep, x, zero));
                },
                {1}};

  // OneHot: values[1] where the (wrapped) index equals the position along
  // the new axis, values[0] elsewhere.
  t["OneHot"] = {[](const CheckContext& c) {
                   return first_of({require_dtypes(c, 0, {DType::kF32, DType::kI32, DType::kI64}), require_host(c, 1, "depth"),
                                    c.rank(0) < 0 ? "indices rank unknown" : ""});
                 },
                 [](LowerContext& c) -> Status {
                   KILN_ASSIGN_OR_RETURN(Tensor idx, c.in(0));
                   KILN_ASSIGN_OR_RETURN(double depth_f, c.host_scalar(1));
                   KILN_ASSIGN_OR_RETURN(Tensor values, c.in(2));
                   const auto depth = static_cast<int64_t>(depth_f);
                   if (depth < 1) return invalid_argument("depth must be >= 1");
                   if (values.numel() != 2) return invalid_argument("values must hold [off, on]");
                   KILN_ASSIGN_OR_RETURN(values, values.reshape({2}));
                   const int out_rank = idx.rank() + 1;
                   KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", -1), out_rank, "axis"));
                   KILN_ASSIGN_OR_RETURN(idx, rt::cast(idx, DType::kI32));
                   KILN_ASSIGN_OR_RETURN(Tensor zero, c.rt.full({}, 0, DType::kI32));
                   KILN_ASSIGN_OR_RETURN(Tensor neg, rt::lt(idx, zero));
                   KILN_ASSIGN_OR_RETURN(Tensor wrapped, rt::add(idx, static_cast<double>(depth)));
                   KILN_ASSIGN_OR_RETURN(idx, rt::where(neg, wrapped, idx));
                   KILN_ASSIGN_OR_RETURN(idx, idx.unsqueeze(axis));
                   KILN_ASSIGN_OR_RETURN(Tensor pos, c.rt.arange(depth, DType::kI32));
                   rt::Shape view(static_cast<std::size_t>(out_rank), 1);
                   view[static_cast<std::size_t>(axis)] = depth;
                   KILN_ASSIGN_OR_RETURN(pos, pos.reshape(view));
                   KILN_ASSIGN_OR_RETURN(Tensor hit, rt::eq(idx, pos));
                   KILN_ASSIGN_OR_RETURN(Tensor off, values.slice(0, 0, 1));
                   KILN_ASSIGN_OR_RETURN(Tensor on, values.slice(0, 1, 2));
                   return put(c, rt::where(hit, on, off));
                 },
                 {1}};

  // The generalized cosine windows of opset 17: w[n] = sum over j of
  // a_j * cos(2 pi j n / N) for n < size, N = size (periodic, the default)
  // or size - 1 (symmetric). Made in f32 on the device, then cast to
  // output_datatype.
  const std::pair<const char*, std::vector<double>> windows[] = {
      {"HannWindow", {0.5, -0.5}},
      {"HammingWindow", {25.0 / 46.0, -21.0 / 46.0}},
      {"BlackmanWindow", {0.42, -0.5, 0.08}},
  };
  for (const auto& window : windows) {
    const std::vector<double>& terms = window.second;  // (a named variable: clang 14 cannot capture a structured binding)
    t[window.first] = {[](const CheckContext& c) {
               const int64_t out = attr_int(c.node, "output_datatype", onnx::TensorProto::FLOAT);
               if (!to_kiln_dtype(static_cast<int32_t>(out)))
                 return "output_datatype " + onnx_dtype_name(static_cast<int32_t>(out)) + " is not supported";
               return first_of({require_dtypes(c, 0, {DType::kI32, DType::kI64}), require_host(c, 0, "size")});
             },
             [terms](LowerContext& c) -> Status {
               KILN_ASSIGN_OR_RETURN(double size_f, c.host_scalar(0));
               const auto size = static_cast<int64_t>(size_f);
               if (size < 0) return invalid_argument("size " + std::to_string(size) + " is negative");
               const DType out = *to_kiln_dtype(static_cast<int32_t>(attr_int(c.node, "output_datatype", onnx::TensorProto::FLOAT)));
               if (size == 0) return put(c, device_full(c.rt, {0}, 0, out));
               const bool periodic = attr_int(c.node, "periodic", 1) != 0;
               // N = 0 (one symmetric point) gives 0 * inf: NaN, as ONNX's reference computes it.
               const double n_denominator = static_cast<double>(periodic ? size : size - 1);
               KILN_ASSIGN_OR_RETURN(Tensor n, c.rt.arange(size, DType::kF32));
               KILN_ASSIGN_OR_RETURN(Tensor phase, rt::mul(n, 2.0 * M_PI / n_denominator));
               KILN_ASSIGN_OR_RETURN(Tensor w, device_full(c.rt, {size}, terms[0], DType::kF32));
               for (std::size_t j = 1; j < terms.size(); ++j) {
                 KILN_ASSIGN_OR_RETURN(Tensor angle, j == 1 ? Result<Tensor>(phase) : rt::mul(phase, static_cast<double>(j)));
                 KILN_ASSIGN_OR_RETURN(Tensor term, rt::cos(angle));
                 KILN_ASSIGN_OR_RETURN(term, rt::mul(term, terms[j]));
                 KILN_ASSIGN_OR_RETURN(w, rt::add(w, term));
               }
               return put(c, out == DType::kF32 ? Result<Tensor>(w) : rt::cast(w, out));
             },
             {0}};
  }
}

}  // namespace kiln::frontend::detail
