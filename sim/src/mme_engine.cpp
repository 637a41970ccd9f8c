#include "mme_engine.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "device_impl.h"
#include "kiln/common/format.h"
#include "mme_math.h"
#include "tbb/parallel_for.h"

namespace kiln::sim {

using namespace sc_core;

namespace {

// total * part / whole (part <= whole) without overflow: a job's FLOPs and
// bytes may use all 64 bits.
uint64_t share(uint64_t total, uint64_t part, uint64_t whole) {
  uint64_t product = 0;
  if (!__builtin_mul_overflow(total, part, &product)) return product / whole;
  return static_cast<uint64_t>(static_cast<long double>(total) * part / whole);
}

// A large dense operand's bytes move in pieces over TBB's threads (on a
// ResNet-50 the copies were about a tenth of the MME's host time). Every piece is
// checked; the fault reported is the lowest piece's, as one whole access
// would report it. Called on the host worker (host_worker.h).
template <typename Access>
bool access_in_pieces(uint64_t va, uint64_t size, uint64_t* fault_address, const Access& access) {
  constexpr uint64_t kPiece = 1ull << 20;
  if (size < 4 * kPiece) return access(va, 0, size, fault_address);
  const uint64_t pieces = (size + kPiece - 1) / kPiece;
  std::vector<uint64_t> faults(pieces, 0);
  std::vector<char> ok(pieces, 0);
  tbb::parallel_for(uint64_t{0}, pieces, [&](uint64_t i) {
    const uint64_t at = i * kPiece;
    ok[i] = access(va + at, at, std::min(kPiece, size - at), &faults[i]) ? 1 : 0;
  });
  for (uint64_t i = 0; i < pieces; ++i) {
    if (!ok[i]) {
      *fault_address = faults[i];
      return false;
    }
  }
  return true;
}

}  // namespace

MmeEngine::MmeEngine(DeviceImpl& device) : device_(device) {}

void MmeEngine::start() {
  engines_.resize(device_.config.mme().count());
  // One process per engine: as many jobs as could ever hold engines at once.
  for (uint32_t i = 0; i < device_.config.mme().count(); ++i) {
    device_.spawn("mme" + std::to_string(i),
                  [this] { jobs_.serve(device_, "MME", [this](const MmeJob& job) { return execute(job); }); });
  }
}

void MmeEngine::enqueue(MmeJob job) { jobs_.push(std::move(job)); }

MmeLimits MmeEngine::limits() const { return {&device_.config.mme(), device_.options.functional}; }

std::optional<FaultRecord> MmeEngine::execute(const MmeJob& job) {
  const mme::Descriptor& d = job.descriptor;
  // The command processor validated the descriptor against the same limits,
  // so this cannot fail; if it did, the job fails rather than run unchecked.
  const Result<MmePlan> planned = plan_mme_job(d, limits());
  if (!planned.ok()) {
    return FaultRecord{FaultCause::kInvalidDescriptor, "MME", job.queue, job.sequence, job.packet_offset, 0,
                       device_.now_ps(), planned.status().message()};
  }
  const MmePlan& plan = *planned;
  const MmeProblem& problem = plan.problem;
  const GemmShape& g = problem.shape;
  const auto& cfg = device_.config.mme();
  const int count = static_cast<int>(cfg.count());
  // Any uint32 may come from the packet: compare before narrowing, so a
  // count past INT32_MAX means all engines like any other count above them.
  const int wanted =
      job.engines == 0 || job.engines >= static_cast<uint32_t>(count) ? count : static_cast<int>(job.engines);
  const std::vector<int> assigned = engines_.acquire(wanted);
  struct Release {
    UnitPool& pool;
    const std::vector<int>& units;
    ~Release() { pool.release(units); }
  } release{engines_, assigned};
  const MmeTiming timing = mme_timing(cfg, g, static_cast<uint32_t>(wanted), mme_job_rate(cfg, d));
  const std::vector<MmeOperand>& operands = plan.operands;

  const uint64_t start_ps = device_.now_ps();
  // Inputs are read from their memories and the output written to its own
  // (traffic.h); an operand streamed several times charges every pass.
  Traffic memory;
  const uint64_t traffic = plan.traffic_bytes;
  for (std::size_t i = 0; i < operands.size(); ++i) {
    std::vector<Segment> segments;
    uint64_t fault_address = 0;
    if (!device_.mmu.translate(job.context, operands[i].addr, operands[i].span_bytes, &segments, &fault_address)) {
      return FaultRecord{FaultCause::kPageFault, "MME", job.queue, job.sequence, job.packet_offset, fault_address,
                         device_.now_ps(),
                         std::string("MME operand ") + operands[i].name + " at " + hex(operands[i].addr) + " (" +
                             std::to_string(operands[i].span_bytes) + " bytes) is not mapped at " +
                             hex(fault_address)};
    }
    if (operands[i].is_output) {
      memory.write_spread(segments, operands[i].traffic_bytes);
    } else {
      memory.read_spread(segments, operands[i].traffic_bytes);
    }
  }

  // Compute and traffic overlap: the job ends when the later of the two does.
  const double cycle_ns = 1e3 / cfg.clock_mhz();
  const uint64_t compute_end_ps = start_ps + to_ps(from_ns(static_cast<double>(timing.cycles) * cycle_ns));
  wait(from_ns(device_.first_byte_latency_ns(memory)));
  BandwidthModel::wait_for(device_.start_traffic(memory));
  const uint64_t memory_end_ps = device_.now_ps();
  if (memory_end_ps < compute_end_ps) wait(from_ps(compute_end_ps - memory_end_ps));

  if (device_.options.functional) {
    // OpenBLAS and TBB on the host worker, never on this coroutine's stack.
    // Simulated time stands still meanwhile.
    std::optional<AccessFault> failed;
    std::string threw;
    try {
      device_.host_worker.run([&] { failed = compute_values(job, problem); });
    } catch (const std::exception& e) {
      threw = e.what();
    } catch (...) {
      threw = "an exception that is not a std::exception";
    }
    if (!threw.empty()) {
      return FaultRecord{FaultCause::kEngineError, "MME", job.queue, job.sequence, job.packet_offset, 0,
                         device_.now_ps(), "computing the values threw: " + threw};
    }
    if (failed) {
      return FaultRecord{FaultCause::kPageFault, "MME", job.queue, job.sequence, job.packet_offset, failed->address,
                         device_.now_ps(), failed->what + " touched unmapped address " + hex(failed->address)};
    }
  }

  const uint64_t flops = plan.flops;
  // A grouped convolution's name counts its groups the way a GEMM's counts its batch.
  const std::string name = (d.op == static_cast<uint8_t>(mme::Op::GEMM) ? "gemm " : "conv2d ") + std::to_string(g.m) +
                           "x" + std::to_string(g.k) + "x" + std::to_string(g.n) +
                           (g.batch > 1 ? " x" + std::to_string(g.batch) : "");
  for (std::size_t e = 0; e < timing.engine_cycles.size(); ++e) {
    if (timing.engine_folds[e] == 0) continue;
    const uint64_t busy_ps = to_ps(from_ns(static_cast<double>(timing.engine_cycles[e]) * cycle_ns));
    const uint64_t end_ps = std::max(start_ps + busy_ps, memory_end_ps);
    device_.record_job(job.trace, {.track = "MME" + std::to_string(assigned[e]),
                                   .queue = static_cast<int32_t>(job.queue), .name = name,
                                   .start_ps = start_ps, .end_ps = end_ps,
                                   .bytes = share(traffic, timing.engine_folds[e], timing.folds),
                                   .flops = share(flops, timing.engine_folds[e], timing.folds),
                                   .sequence = job.sequence,
                                   .detail = std::to_string(timing.engine_cycles[e]) + " cycles, " +
                                             std::to_string(timing.engine_folds[e]) + " folds",
                                   .hbm_bytes = share(memory.read_bytes(MemoryKind::kHbm) +
                                                          memory.written_bytes(MemoryKind::kHbm),
                                                      timing.engine_folds[e], timing.folds)});
  }
  return std::nullopt;
}

std::optional<MmeEngine::AccessFault> MmeEngine::compute_values(const MmeJob& job, const MmeProblem& problem) {
  // Sizes here are bounded by the plan's host-memory ceiling (mme_plan.h),
  // which also keeps every dimension below 2^31 for BLAS's int indices.
  // The operand ranges were translated before the job ran, but the host may
  // have unmapped memory since: every access is checked.
  std::optional<AccessFault> failed = compute_values_in_scratch(job, problem);
  // A huge job's buffers go back to the system; ordinary ones stay for the next job.
  for (ScratchBuffer* b : {&scratch_.a, &scratch_.b, &scratch_.c, &scratch_.r, &scratch_.raw, &scratch_.bias,
                           &scratch_.stored}) {
    b->trim(kScratchKeepBytes);
  }
  return failed;
}

std::optional<MmeEngine::AccessFault> MmeEngine::compute_values_in_scratch(const MmeJob& job,
                                                                          const MmeProblem& problem) {
  const mme::Descriptor& d = job.descriptor;
  const GemmShape& g = problem.shape;
  const auto a_type = static_cast<DType>(d.a_dtype), b_type = static_cast<DType>(d.b_dtype),
             o_type = static_cast<DType>(d.out_dtype), r_type = static_cast<DType>(d.r_dtype);
  const bool tf32 = (d.flags & mme::kTf32) != 0, residual = (d.flags & mme::kHasResidual) != 0;
  std::optional<AccessFault> failed;
  // Reads `rows` rows of `cols` elements, `ld` elements apart, as fp32 into
  // `out` (f32 straight in, narrower types through scratch_.raw); false
  // (with `failed` set) if some byte is not mapped.
  auto read_matrix = [&](const char* operand, uint64_t addr, DType t, uint64_t rows, uint64_t cols, uint64_t ld,
                         float* out) {
    const uint64_t es = dtype_size(t), bytes = rows * cols * es;
    uint8_t* raw = t == DType::kF32 ? reinterpret_cast<uint8_t*>(out)
                                    : reinterpret_cast<uint8_t*>(scratch_.raw.floats((bytes + 3) / 4));
    const uint64_t chunk = ld == cols ? bytes : cols * es;  // dense: one read
    for (uint64_t at = 0, r = 0; at < bytes; at += chunk, ++r) {
      uint64_t fault = 0;
      if (!access_in_pieces(addr + r * ld * es, chunk, &fault, [&](uint64_t va, uint64_t offset, uint64_t n, uint64_t* f) {
            return device_.read_virtual(job.context, va, raw + at + offset, n, f);
          })) {
        failed = AccessFault{fault, std::string("reading operand ") + operand};
        return false;
      }
    }
    if (t != DType::kF32) widen(raw, t, rows * cols, out);
    return true;
  };
  // A dense f32 matrix already resident in one run of memory is read where
  // it lies: weights of many MB are not copied for every job. The values
  // are the same bytes either way.
  auto in_place = [&](uint64_t addr, DType t, uint64_t rows, uint64_t cols, uint64_t ld) -> const float* {
    if (t != DType::kF32 || (ld != cols && rows > 1) || addr % alignof(float) != 0) return nullptr;
    return reinterpret_cast<const float*>(device_.resident_bytes(job.context, addr, rows * cols * sizeof(float)));
  };
  // A matrix as fp32: in place, or read into `buffer`; null (with `failed`
  // set) if some byte is not mapped.
  auto read_values = [&](const char* operand, uint64_t addr, DType t, uint64_t rows, uint64_t cols, uint64_t ld,
                         ScratchBuffer& buffer) -> const float* {
    if (const float* p = in_place(addr, t, rows, cols, ld)) return p;
    float* out = buffer.floats(rows * cols);
    return read_matrix(operand, addr, t, rows, cols, ld, out) ? out : nullptr;
  };
  // An input of the multiply: widened, then rounded to TF32 in TF32 mode
  // (in a copy: memory is never rounded in place).
  auto read_input = [&](const char* operand, uint64_t addr, DType t, uint64_t rows, uint64_t cols, uint64_t ld,
                        ScratchBuffer& buffer) -> const float* {
    if (!tf32) return read_values(operand, addr, t, rows, cols, ld, buffer);
    float* out = buffer.floats(rows * cols);
    if (!read_matrix(operand, addr, t, rows, cols, ld, out)) return nullptr;
    round_to_tf32_in_place(out, rows * cols);
    return out;
  };
  // Writes `rows` rows of `cols` fp32 values narrowed to the output type,
  // `ld` elements apart.
  auto write_matrix = [&](uint64_t addr, const float* src, uint64_t rows, uint64_t cols, uint64_t ld) {
    const uint64_t bytes = rows * cols * dtype_size(o_type);
    const uint8_t* out = reinterpret_cast<const uint8_t*>(src);
    if (o_type != DType::kF32) {
      auto* raw = reinterpret_cast<uint8_t*>(scratch_.raw.floats((bytes + 3) / 4));
      narrow(src, o_type, rows * cols, raw);
      out = raw;
    }
    const uint64_t row_bytes = cols * dtype_size(o_type), chunk = ld == cols ? bytes : row_bytes;
    for (uint64_t at = 0, r = 0; at < bytes; at += chunk, ++r) {
      uint64_t fault = 0;
      if (!access_in_pieces(addr + r * ld * dtype_size(o_type), chunk, &fault,
                            [&](uint64_t va, uint64_t offset, uint64_t n, uint64_t* f) {
                              return device_.write_virtual(job.context, va, out + at + offset, n, f);
                            })) {
        failed = AccessFault{fault, "writing operand C"};
        return false;
      }
    }
    return true;
  };
  // A dense f32 result whose bytes are one run of memory is computed where
  // it lies, not in scratch and copied there after the epilogue: unless an
  // operand read in place shares bytes with it (an in-place residual, a
  // result over its own input), which must be read whole before C is
  // written. Null: compute in scratch.
  auto result_in_place = [&](uint64_t addr, uint64_t count,
                             std::initializer_list<std::pair<const float*, uint64_t>> operands) -> float* {
    if (o_type != DType::kF32 || addr % alignof(float) != 0) return nullptr;
    const uint64_t bytes = count * sizeof(float);
    uint8_t* out = device_.writable_bytes(job.context, addr, bytes);
    if (!out) return nullptr;
    const auto lo = reinterpret_cast<uintptr_t>(out), hi = lo + bytes;
    for (const auto& [x, n] : operands) {
      const auto x_lo = reinterpret_cast<uintptr_t>(x), x_hi = x_lo + n * sizeof(float);
      if (x && x_lo < hi && lo < x_hi) return nullptr;
    }
    return reinterpret_cast<float*>(out);
  };
  const bool gemm = d.op == static_cast<uint8_t>(mme::Op::GEMM);
  const uint64_t channels = gemm ? g.n : d.conv_k;  // the bias has one per output column or channel
  const float* bias = nullptr;
  if (d.flags & mme::kHasBias) {
    float* b = scratch_.bias.floats(channels);
    if (!read_matrix("bias", d.bias_addr, DType::kF32, 1, channels, channels, b)) return failed;
    bias = b;
  }
  const auto act = static_cast<mme::Activation>(d.activation);
  const uint64_t so = dtype_size(o_type), sr = dtype_size(r_type);

  if (gemm) {
    // A transposed operand is read as stored (A^T k x m, B^T n x k) and
    // multiplied in that layout: the same values, bit for bit, as the GEMM
    // on a dense copy (mme_math.h).
    const GemmLayout layout{(d.flags & mme::kTransposeA) != 0, (d.flags & mme::kTransposeB) != 0};
    auto read_operand = [&](const char* operand, uint64_t addr, DType t, uint64_t rows, uint64_t cols, uint64_t ld,
                            bool transposed, ScratchBuffer& buffer) -> const float* {
      return transposed ? read_input(operand, addr, t, cols, rows, ld, buffer)
                        : read_input(operand, addr, t, rows, cols, ld, buffer);
    };
    float* c = scratch_.c.floats(g.m * g.n);
    for (uint64_t b = 0; b < g.batch; ++b) {
      const float* a = read_operand("A", d.a_addr + b * d.batch_stride_a * dtype_size(a_type), a_type, g.m, g.k, d.lda,
                                    layout.a_transposed, scratch_.a);
      const float* w = a ? read_operand("B", d.b_addr + b * d.batch_stride_b * dtype_size(b_type), b_type, g.k, g.n,
                                        d.ldb, layout.b_transposed, scratch_.b)
                         : nullptr;
      if (!w) return failed;
      // R is read before C is written (C is written after the epilogue, or
      // in place only when no operand shares its bytes): an in-place
      // residual (r_addr == c_addr) sees the old values.
      const float* r = nullptr;
      if (residual) {
        r = read_values("R", d.r_addr + b * d.batch_stride_c * sr, r_type, g.m, g.n, d.ldc, scratch_.r);
        if (!r) return failed;
      }
      const uint64_t c_addr = d.c_addr + b * d.batch_stride_c * so;
      float* direct = d.ldc == g.n || g.m == 1
                          ? result_in_place(c_addr, g.m * g.n, {{a, g.m * g.k}, {w, g.k * g.n}, {r, g.m * g.n}})
                          : nullptr;
      float* out = direct ? direct : c;
      gemm_f32(a, w, out, g.m, g.n, g.k, layout);
      apply_epilogue(out, g.m, g.n, 1, bias, act, r);
      if (!direct && !write_matrix(c_addr, c, g.m, g.n, d.ldc)) return failed;
    }
    return std::nullopt;
  }
  // Convolution as one implicit GEMM per image and group: the group's
  // weights (K/G x (C/G)RS, as stored) times im2col of its input channels
  // ((C/G)RS x PQ), written straight into the group's output channels of
  // the NKPQ result. An output element's value depends on its filter and
  // its own taps only (mme_math.h), never on N or on the other groups.
  const uint64_t in_elems = static_cast<uint64_t>(d.conv_n) * d.conv_c * d.conv_h * d.conv_w;
  const uint64_t pq = static_cast<uint64_t>(problem.out_h) * problem.out_w;
  const uint64_t out_elems = d.conv_n * channels * pq;
  const float* input = read_input("A", d.a_addr, a_type, 1, in_elems, in_elems, scratch_.a);
  const float* weights = input ? read_input("B", d.b_addr, b_type, channels, g.k, g.k, scratch_.b)  // K x (C/G)RS
                               : nullptr;
  if (!weights) return failed;
  const float* r = nullptr;
  if (residual) {
    r = read_values("R", d.r_addr, r_type, 1, out_elems, out_elems, scratch_.r);
    if (!r) return failed;
  }
  float* const direct =
      result_in_place(d.c_addr, out_elems, {{input, in_elems}, {weights, channels * g.k}, {r, out_elems}});
  float* nkpq = direct ? direct : scratch_.c.floats(out_elems);
  // A 1x1 unit-stride convolution reads its input in place: an NCHW image's
  // group channels are B itself; an ungrouped NHWC image is B stored
  // transposed (PQ x C). Anything else goes through im2col.
  const bool channels_last = (d.flags & mme::kChannelsLastInput) != 0;
  const bool identity = im2col_is_identity(d, problem.out_h, problem.out_w) && (!channels_last || g.batch == 1);
  float* cols = identity ? nullptr : scratch_.stored.floats(g.k * pq);
  const uint64_t plane = static_cast<uint64_t>(d.conv_h) * d.conv_w;
  for (uint32_t n = 0; n < d.conv_n; ++n) {
    for (uint32_t group = 0; group < g.batch; ++group) {
      const uint64_t k0 = group * g.n;  // the group's first output channel
      const float* b = cols;
      if (identity) {
        b = input + (static_cast<uint64_t>(n) * d.conv_c + group * (d.conv_c / d.conv_groups)) * plane;
      } else {
        im2col(input, d, n, group, problem.out_h, problem.out_w, cols);
      }
      gemm_f32(weights + k0 * g.k, b, nkpq + (n * channels + k0) * pq, g.n, pq, g.k,
               GemmLayout{false, identity && channels_last});
    }
  }
  apply_epilogue(nkpq, d.conv_n, channels, pq, bias, act, r);
  if (!direct && !write_matrix(d.c_addr, nkpq, 1, out_elems, out_elems)) return failed;
  return std::nullopt;
}

}  // namespace kiln::sim
