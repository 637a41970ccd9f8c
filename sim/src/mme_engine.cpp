#include "mme_engine.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "device_impl.h"
#include "kiln/common/format.h"
#include "mme_math.h"

namespace kiln::sim {

using namespace sc_core;

namespace {

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Why a raw dtype byte is not an MME operand type, or "" when it is one.
std::string mme_dtype_problem(uint8_t raw) {
  if (!is_valid_dtype(raw)) return "is unknown (" + std::to_string(raw) + ")";
  switch (static_cast<DType>(raw)) {
    case DType::kF32:
    case DType::kBF16: return "";
    case DType::kF16: return "is f16: fp16 is not supported by the MME yet";
    case DType::kI32: break;
  }
  return "is " + std::string(dtype_name(static_cast<DType>(raw))) + ": the MME takes f32 or bf16";
}

}  // namespace

std::optional<std::string> validate_mme_descriptor(const mme::Descriptor& d) {
  auto bad = [](const std::string& field, const std::string& why) {
    return std::optional<std::string>("MME descriptor field '" + field + "' " + why);
  };
  if (d.magic != mme::kDescriptorMagic) return bad("magic", "is " + hex(d.magic) + ", not 'KMME'");
  if (d.op > static_cast<uint8_t>(mme::Op::CONV2D)) return bad("op", "is unknown (" + std::to_string(d.op) + ")");
  const std::pair<const char*, uint8_t> dtypes[] = {{"a_dtype", d.a_dtype}, {"b_dtype", d.b_dtype},
                                                    {"out_dtype", d.out_dtype}};
  for (const auto& [field, raw] : dtypes) {
    if (std::string problem = mme_dtype_problem(raw); !problem.empty()) return bad(field, problem);
  }
  if (d.activation >= static_cast<uint8_t>(mme::Activation::MAX_COUNT)) return bad("activation", "is unknown");
  if (d.flags & ~mme::kKnownDescriptorFlags) return bad("flags", "has unknown bits");
  if (d.reserved0 != 0 || d.reserved1 != 0 || d.reserved2 != 0) return bad("reserved0/1/2", "must be zero");
  if (d.op == static_cast<uint8_t>(mme::Op::GEMM)) {
    if (d.batch == 0 || d.m == 0 || d.n == 0 || d.k == 0) return bad("batch/m/n/k", "must all be > 0");
    if (d.lda < d.k) return bad("lda", "is smaller than k");
    if (d.ldb < d.n) return bad("ldb", "is smaller than n");
    if (d.ldc < d.n) return bad("ldc", "is smaller than n");
    return std::nullopt;
  }
  if (d.conv_n == 0 || d.conv_c == 0 || d.conv_h == 0 || d.conv_w == 0 || d.conv_k == 0 || d.conv_r == 0 ||
      d.conv_s == 0) {
    return bad("conv_n/c/h/w/k/r/s", "must all be > 0");
  }
  if (d.stride_h == 0 || d.stride_w == 0 || d.dilation_h == 0 || d.dilation_w == 0) {
    return bad("stride/dilation", "must be > 0");
  }
  const MmeProblem p = mme_problem(d);
  if (p.out_h == 0 || p.out_w == 0) return bad("conv geometry", "gives an empty output (filter larger than padded input)");
  return std::nullopt;
}

MmeProblem mme_problem(const mme::Descriptor& d) {
  MmeProblem p;
  if (d.op == static_cast<uint8_t>(mme::Op::GEMM)) {
    p.shape = {d.batch, d.m, d.n, d.k};
    return p;
  }
  p.out_h = mme::conv_out_extent(d.conv_h, d.pad_h, d.dilation_h, d.conv_r, d.stride_h);
  p.out_w = mme::conv_out_extent(d.conv_w, d.pad_w, d.dilation_w, d.conv_s, d.stride_w);
  p.shape = {1, static_cast<uint64_t>(d.conv_n) * p.out_h * p.out_w, d.conv_k,
             static_cast<uint64_t>(d.conv_c) * d.conv_r * d.conv_s};
  return p;
}

MmeEngine::MmeEngine(DeviceImpl& device) : device_(device) {}

void MmeEngine::start() {
  device_.spawn("mme", [this] { jobs_.serve(device_, "MME", [this](const MmeJob& job) { return execute(job); }); });
}

void MmeEngine::enqueue(MmeJob job) { jobs_.push(std::move(job)); }

std::optional<FaultRecord> MmeEngine::execute(const MmeJob& job) {
  const mme::Descriptor& d = job.descriptor;
  const MmeProblem problem = mme_problem(d);
  const GemmShape& g = problem.shape;
  const auto& cfg = device_.config.mme();
  const MmeTiming timing = mme_timing(cfg, g);
  const uint64_t sa = dtype_size(static_cast<DType>(d.a_dtype));
  const uint64_t sb = dtype_size(static_cast<DType>(d.b_dtype));
  const uint64_t so = dtype_size(static_cast<DType>(d.out_dtype));
  // Weight-stationary: A streams through the array once per column fold;
  // B and C cross memory once.
  const uint64_t column_folds = ceil_div(g.n, cfg.array_cols());
  std::vector<Operand> operands;
  if (d.op == static_cast<uint8_t>(mme::Op::GEMM)) {
    const uint64_t a_span = ((g.batch - 1) * d.batch_stride_a + (g.m - 1) * d.lda + g.k) * sa;
    const uint64_t b_span = ((g.batch - 1) * d.batch_stride_b + (g.k - 1) * d.ldb + g.n) * sb;
    const uint64_t c_span = ((g.batch - 1) * d.batch_stride_c + (g.m - 1) * d.ldc + g.n) * so;
    const uint64_t b_copies = d.batch_stride_b == 0 ? 1 : g.batch;
    operands.push_back({d.a_addr, a_span, g.batch * g.m * g.k * sa * column_folds, false});
    operands.push_back({d.b_addr, b_span, b_copies * g.k * g.n * sb, false});
    operands.push_back({d.c_addr, c_span, g.batch * g.m * g.n * so, true});
  } else {
    const uint64_t in = static_cast<uint64_t>(d.conv_n) * d.conv_c * d.conv_h * d.conv_w * sa;
    const uint64_t w = static_cast<uint64_t>(d.conv_k) * d.conv_c * d.conv_r * d.conv_s * sb;
    const uint64_t out = static_cast<uint64_t>(d.conv_n) * d.conv_k * problem.out_h * problem.out_w * so;
    operands.push_back({d.a_addr, in, in * column_folds, false});
    operands.push_back({d.b_addr, w, w, false});
    operands.push_back({d.c_addr, out, out, true});
  }
  if (d.flags & mme::kHasBias) operands.push_back({d.bias_addr, g.n * 4, g.n * 4, false});

  const uint64_t start_ps = device_.now_ps();
  std::vector<std::vector<int>> resources(operands.size());
  double latency_ns = 0;
  uint64_t traffic = 0;
  for (std::size_t i = 0; i < operands.size(); ++i) {
    std::vector<Segment> segments;
    uint64_t fault_address = 0;
    if (!device_.mmu.translate(job.context, operands[i].addr, operands[i].span_bytes, &segments, &fault_address)) {
      return FaultRecord{FaultCause::kPageFault, "MME", job.queue, job.sequence, job.packet_offset, fault_address,
                         device_.now_ps(), "MME operand " + std::to_string(i) + " at " + hex(operands[i].addr) +
                                               " (" + std::to_string(operands[i].span_bytes) + " bytes) is not mapped"};
    }
    for (const Segment& s : segments) {
      const int r = device_.resource_for(s.kind, operands[i].is_output);
      if (std::find(resources[i].begin(), resources[i].end(), r) == resources[i].end()) resources[i].push_back(r);
      latency_ns = std::max(latency_ns, device_.latency_ns(s.kind));
    }
    traffic += operands[i].traffic_bytes;
  }

  // Compute and traffic overlap: the job ends when the later of the two does.
  const double cycle_ns = 1e3 / cfg.clock_mhz();
  const uint64_t compute_end_ps = start_ps + to_ps(from_ns(static_cast<double>(timing.cycles) * cycle_ns));
  wait(from_ns(latency_ns));
  std::vector<BandwidthModel::FlowPtr> flows;
  for (std::size_t i = 0; i < operands.size(); ++i) {
    flows.push_back(device_.bandwidth.start(resources[i], operands[i].traffic_bytes));
  }
  for (const auto& f : flows) BandwidthModel::wait_for(f);
  const uint64_t memory_end_ps = device_.now_ps();
  if (memory_end_ps < compute_end_ps) wait(from_ps(compute_end_ps - memory_end_ps));

  if (device_.options.functional) compute_values(job, problem);

  const uint64_t flops = 2 * g.batch * g.m * g.n * g.k;
  const std::string name = (d.op == static_cast<uint8_t>(mme::Op::GEMM) ? "gemm " : "conv2d ") + std::to_string(g.m) +
                           "x" + std::to_string(g.k) + "x" + std::to_string(g.n) +
                           (g.batch > 1 ? " x" + std::to_string(g.batch) : "");
  for (std::size_t e = 0; e < timing.engine_cycles.size(); ++e) {
    if (timing.engine_folds[e] == 0) continue;
    const uint64_t busy_ps = to_ps(from_ns(static_cast<double>(timing.engine_cycles[e]) * cycle_ns));
    const uint64_t end_ps = std::max(start_ps + busy_ps, memory_end_ps);
    device_.record({.track = "MME" + std::to_string(e), .queue = static_cast<int32_t>(job.queue), .name = name,
                    .start_ps = start_ps, .end_ps = end_ps,
                    .bytes = traffic * timing.engine_folds[e] / timing.folds,
                    .flops = flops * timing.engine_folds[e] / timing.folds, .sequence = job.sequence,
                    .detail = std::to_string(timing.engine_cycles[e]) + " cycles, " +
                              std::to_string(timing.engine_folds[e]) + " folds"});
  }
  return std::nullopt;
}

void MmeEngine::compute_values(const MmeJob& job, const MmeProblem& problem) {
  const mme::Descriptor& d = job.descriptor;
  const GemmShape& g = problem.shape;
  const auto a_type = static_cast<DType>(d.a_dtype), b_type = static_cast<DType>(d.b_dtype),
             o_type = static_cast<DType>(d.out_dtype);
  uint64_t fault = 0;  // operands were translated before the job ran
  // Reads `rows` rows of `cols` elements, `ld` elements apart, as fp32.
  auto read_matrix = [&](uint64_t addr, DType t, uint64_t rows, uint64_t cols, uint64_t ld) {
    const uint64_t es = dtype_size(t);
    std::vector<uint8_t> raw(rows * cols * es);
    if (ld == cols) {
      device_.read_virtual(job.context, addr, raw.data(), raw.size(), &fault);
    } else {
      for (uint64_t r = 0; r < rows; ++r) {
        device_.read_virtual(job.context, addr + r * ld * es, raw.data() + r * cols * es, cols * es, &fault);
      }
    }
    std::vector<float> out(rows * cols);
    widen(raw.data(), t, rows * cols, out.data());
    return out;
  };
  std::vector<float> bias;
  if (d.flags & mme::kHasBias) bias = read_matrix(d.bias_addr, DType::kF32, 1, g.n, g.n);
  const float* bias_ptr = bias.empty() ? nullptr : bias.data();
  const auto act = static_cast<mme::Activation>(d.activation);
  const uint64_t so = dtype_size(o_type);
  std::vector<float> c(g.m * g.n);
  std::vector<uint8_t> raw_out;

  if (d.op == static_cast<uint8_t>(mme::Op::GEMM)) {
    for (uint64_t b = 0; b < g.batch; ++b) {
      const auto a = read_matrix(d.a_addr + b * d.batch_stride_a * dtype_size(a_type), a_type, g.m, g.k, d.lda);
      const auto w = read_matrix(d.b_addr + b * d.batch_stride_b * dtype_size(b_type), b_type, g.k, g.n, d.ldb);
      gemm_f32(a.data(), w.data(), c.data(), g.m, g.n, g.k);
      apply_epilogue(c.data(), g.m, g.n, bias_ptr, act);
      raw_out.resize(g.m * g.n * so);
      narrow(c.data(), o_type, g.m * g.n, raw_out.data());
      const uint64_t base = d.c_addr + b * d.batch_stride_c * so;
      for (uint64_t r = 0; r < g.m; ++r) {
        device_.write_virtual(job.context, base + r * d.ldc * so, raw_out.data() + r * g.n * so, g.n * so, &fault);
      }
    }
    return;
  }
  // Convolution as an implicit GEMM: A = im2col(input), B = weights^T.
  const uint64_t in_elems = static_cast<uint64_t>(d.conv_n) * d.conv_c * d.conv_h * d.conv_w;
  const auto input = read_matrix(d.a_addr, a_type, 1, in_elems, in_elems);
  const auto weights = read_matrix(d.b_addr, b_type, d.conv_k, g.k, g.k);  // K x CRS
  std::vector<float> a(g.m * g.k), w(g.k * g.n);
  im2col(input.data(), d, problem.out_h, problem.out_w, a.data());
  for (uint64_t kk = 0; kk < g.n; ++kk) {
    for (uint64_t i = 0; i < g.k; ++i) w[i * g.n + kk] = weights[kk * g.k + i];
  }
  gemm_f32(a.data(), w.data(), c.data(), g.m, g.n, g.k);
  apply_epilogue(c.data(), g.m, g.n, bias_ptr, act);
  // Rows of c are (n, p, q), columns output channels; the output is NKPQ.
  const uint64_t pq = static_cast<uint64_t>(problem.out_h) * problem.out_w;
  std::vector<float> nkpq(c.size());
  for (uint64_t n = 0; n < d.conv_n; ++n) {
    for (uint64_t kk = 0; kk < g.n; ++kk) {
      for (uint64_t i = 0; i < pq; ++i) nkpq[(n * g.n + kk) * pq + i] = c[(n * pq + i) * g.n + kk];
    }
  }
  raw_out.resize(nkpq.size() * so);
  narrow(nkpq.data(), o_type, nkpq.size(), raw_out.data());
  device_.write_virtual(job.context, d.c_addr, raw_out.data(), raw_out.size(), &fault);
}

}  // namespace kiln::sim
