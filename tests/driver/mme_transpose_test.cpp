// Transposed MME operands (kTransposeA, kTransposeB; mme_descriptor.h): A
// stored k x m and B stored n x k, read in place. Values in every dtype, with
// every epilogue, batched with batch strides, against a double-precision host
// reference that indexes the stored layout itself -- and bit for bit what the
// same GEMM gives on dense copies. Validation and faults name the field or
// the operand; a transposed operand costs what a dense one does.
#include <cstring>

#include "kiln/common/format.h"
#include "kiln/common/tf32.h"
#include "mme_test_util.h"

namespace kiln::driver {
namespace {

using mme::gemm_descriptor;
using testing::activate;
using testing::close_enough;
using testing::make_matrix;
using testing::mme_ps;
using testing::read_back;
using testing::take;
using A = mme::Activation;

struct TransposeCase {
  uint64_t batch, m, n, k;
  DType a, b, out;
  bool ta, tb;          // kTransposeA, kTransposeB
  A act = A::NONE;
  bool bias = false;
  bool residual = false;
  DType r = DType::kF32;
  uint64_t pad = 0;             // extra elements per stored row
  bool shared_weights = false;  // batch_stride_b = 0
  bool tf32 = false;
};

// One operand as stored: `rows` rows of `cols`, `ld` apart, `batches` of them
// `batch_stride` apart (3 elements more than the rows take: not dense).
struct Stored {
  uint64_t rows, cols, ld, batch_stride, count;
};

Stored stored(uint64_t rows, uint64_t cols, uint64_t pad, uint64_t batches, bool shared) {
  Stored s{rows, cols, cols + pad, shared ? 0 : rows * (cols + pad) + 3, 0};
  s.count = (batches - 1) * s.batch_stride + (rows - 1) * s.ld + cols;
  return s;
}

class MmeTranspose : public ::testing::TestWithParam<TransposeCase> {};

TEST_P(MmeTranspose, MatchesTheHostReferenceAndTheDenseGemmBitForBit) {
  const TransposeCase c = GetParam();
  auto dev = testing::open_device();
  Stream* s = take(dev->create_stream());
  const Stored sa = c.ta ? stored(c.k, c.m, c.pad, c.batch, false) : stored(c.m, c.k, c.pad, c.batch, false);
  const Stored sb = c.tb ? stored(c.n, c.k, c.pad, c.batch, c.shared_weights)
                         : stored(c.k, c.n, c.pad, c.batch, c.shared_weights);
  const uint64_t c_count = c.batch * c.m * c.n;
  auto ha = make_matrix(sa.count, c.a, 11), hb = make_matrix(sb.count, c.b, 12);
  auto hbias = make_matrix(c.n, DType::kF32, 13), hr = make_matrix(c_count, c.r, 14);
  // Element (i, p) of A[b] and (p, j) of B[b], read from the stored layout.
  const auto a_at = [&](uint64_t b, uint64_t i, uint64_t p) {
    return b * sa.batch_stride + (c.ta ? p * sa.ld + i : i * sa.ld + p);
  };
  const auto b_at = [&](uint64_t b, uint64_t p, uint64_t j) {
    return b * sb.batch_stride + (c.tb ? j * sb.ld + p : p * sb.ld + j);
  };
  auto bias = testing::upload(*dev, hbias), r = testing::upload(*dev, hr);
  const auto epilogue = [&](mme::Descriptor& d) {
    d.batch = static_cast<uint32_t>(c.batch);
    d.batch_stride_c = c.m * c.n;
    d.activation = static_cast<uint8_t>(c.act);
    if (c.bias) d.flags |= mme::kHasBias, d.bias_addr = bias.address;
    if (c.residual) d.flags |= mme::kHasResidual, d.r_dtype = static_cast<uint8_t>(c.r), d.r_addr = r.address;
    if (c.tf32) d.flags |= mme::kTf32;
  };

  // The transposed job, reading the operands where they are.
  auto a = testing::upload(*dev, ha), b = testing::upload(*dev, hb);
  auto out = take(dev->allocate(c_count * dtype_size(c.out)));
  auto d = gemm_descriptor(c.m, c.k, c.n, c.a, c.b, c.out);
  epilogue(d);
  if (c.ta) d.flags |= mme::kTransposeA;
  if (c.tb) d.flags |= mme::kTransposeB;
  d.lda = sa.ld, d.batch_stride_a = sa.batch_stride;
  d.ldb = sb.ld, d.batch_stride_b = sb.batch_stride;
  d.a_addr = a.address, d.b_addr = b.address, d.c_addr = out.address;
  testing::launch_descriptor(*dev, *s, d);
  const auto got = read_back(*dev, out.address, c_count, c.out);

  // The same GEMM on dense copies made on the host.
  const uint64_t b_batches = c.shared_weights ? 1 : c.batch;
  std::vector<uint8_t> dense_a(c.batch * c.m * c.k * dtype_size(c.a)), dense_b(b_batches * c.k * c.n * dtype_size(c.b));
  for (uint64_t bi = 0; bi < c.batch; ++bi)
    for (uint64_t i = 0; i < c.m; ++i)
      for (uint64_t p = 0; p < c.k; ++p)
        std::memcpy(&dense_a[((bi * c.m + i) * c.k + p) * dtype_size(c.a)], &ha.bytes[a_at(bi, i, p) * dtype_size(c.a)],
                    dtype_size(c.a));
  for (uint64_t bi = 0; bi < b_batches; ++bi)
    for (uint64_t p = 0; p < c.k; ++p)
      for (uint64_t j = 0; j < c.n; ++j)
        std::memcpy(&dense_b[((bi * c.k + p) * c.n + j) * dtype_size(c.b)], &hb.bytes[b_at(bi, p, j) * dtype_size(c.b)],
                    dtype_size(c.b));
  auto da = take(dev->allocate(dense_a.size())), db = take(dev->allocate(dense_b.size()));
  ASSERT_OK(dev->copy_to_device(da.address, dense_a.data(), dense_a.size()));
  ASSERT_OK(dev->copy_to_device(db.address, dense_b.data(), dense_b.size()));
  auto dense_out = take(dev->allocate(c_count * dtype_size(c.out)));
  auto dd = gemm_descriptor(c.m, c.k, c.n, c.a, c.b, c.out);
  epilogue(dd);
  dd.batch_stride_a = c.m * c.k;
  dd.batch_stride_b = c.shared_weights ? 0 : c.k * c.n;
  dd.a_addr = da.address, dd.b_addr = db.address, dd.c_addr = dense_out.address;
  testing::launch_descriptor(*dev, *s, dd);
  std::vector<uint8_t> got_bytes(c_count * dtype_size(c.out)), dense_bytes(got_bytes.size());
  ASSERT_OK(dev->copy_to_host(got_bytes.data(), out.address, got_bytes.size()));
  ASSERT_OK(dev->copy_to_host(dense_bytes.data(), dense_out.address, dense_bytes.size()));
  EXPECT_EQ(got_bytes, dense_bytes) << "the transposed job differs from the GEMM on dense copies";

  // The host reference, in double (close_enough: fp32 accumulation of k
  // terms, then one rounding to the output dtype).
  const auto input = [&](float v) { return c.tf32 ? round_to_tf32(v) : v; };
  for (uint64_t bi = 0; bi < c.batch; ++bi) {
    for (uint64_t i = 0; i < c.m; ++i) {
      for (uint64_t j = 0; j < c.n; ++j) {
        double acc = 0;
        for (uint64_t p = 0; p < c.k; ++p) {
          acc += static_cast<double>(input(ha.values[a_at(bi, i, p)])) * input(hb.values[b_at(bi, p, j)]);
        }
        if (c.bias) acc += hbias.values[j];
        const uint64_t at = (bi * c.m + i) * c.n + j;
        const double want = activate(acc, c.act) + (c.residual ? hr.values[at] : 0.0);
        ASSERT_TRUE(close_enough(got[at], want, c.out, c.k)) << "b" << bi << " [" << i << "," << j << "]";
      }
    }
  }
}

constexpr DType f32 = DType::kF32, bf16 = DType::kBF16, f16 = DType::kF16;
INSTANTIATE_TEST_SUITE_P(
    Gemm, MmeTranspose,
    ::testing::Values(
        // One operand or both, each dtype.
        TransposeCase{1, 37, 53, 29, f32, f32, f32, false, true},
        TransposeCase{1, 37, 53, 29, bf16, bf16, bf16, true, false},
        TransposeCase{1, 64, 130, 257, f16, f16, f32, true, true},
        // Batched, with batch strides and padded rows; shared weights.
        TransposeCase{3, 9, 33, 16, bf16, bf16, f32, false, true, A::NONE, false, false, f32, 3},
        TransposeCase{4, 16, 24, 40, f32, f32, f32, true, true, A::NONE, false, false, f32, 2},
        TransposeCase{2, 8, 12, 20, f16, bf16, f16, false, true, A::GELU, true, false, f32, 0, true},
        // Epilogues: bias, activation, residual in each dtype; TF32.
        TransposeCase{1, 31, 47, 64, bf16, bf16, bf16, false, true, A::GELU_TANH, true, true, bf16},
        TransposeCase{2, 20, 17, 30, f32, f16, f32, true, false, A::RELU, true, true, f16, 5},
        TransposeCase{2, 12, 40, 24, f16, f16, f16, true, true, A::SILU, false, true, f32, 1},
        TransposeCase{1, 20, 40, 300, f32, f32, bf16, false, true, A::SILU, true, false, f32, 4, false, true},
        // Large enough that the host splits the multiply into row blocks.
        TransposeCase{1, 600, 128, 256, bf16, bf16, f32, false, true}));

// ----------------------------------------------------------------- faults

// Runs one descriptor; returns its submission's fault, if any.
std::optional<FaultRecord> run(Device& dev, Stream& s, const mme::Descriptor& d) {
  HostBuffer desc = take(dev.allocate_host(sizeof d));
  std::memcpy(desc.data, &d, sizeof d);
  CommandBuffer cb;
  cb.nop().launch_mme(desc.address);
  const uint64_t seq = take(s.submit(cb));
  (void)s.wait(seq);
  EXPECT_TRUE(dev.free_host(desc).ok());
  return take(s.info(seq)).fault;
}

TEST(MmeTransposeFaults, InvalidUsesAreRejectedNamingTheField) {
  auto dev = testing::open_device();
  Stream* s = take(dev->create_stream());
  auto buf = take(dev->allocate(64 * 64 * 4));
  auto conv = mme::conv2d_descriptor(1, 4, 8, 8, 4, 3, 3, f32, f32, f32);
  conv.a_addr = conv.b_addr = conv.c_addr = buf.address;
  conv.flags = mme::kTransposeB;
  auto f = run(*dev, *s, conv);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kInvalidDescriptor);
  EXPECT_NE(f->detail.find("field 'flags' has kTransposeB, which only a GEMM takes"), std::string::npos) << f->detail;

  auto d = gemm_descriptor(32, 8, 16, f32, f32, f32);  // A^T stored 8 x 32: lda must be >= m = 32
  d.a_addr = d.b_addr = d.c_addr = buf.address;
  d.flags = mme::kTransposeA;
  d.lda = 8;  // what a dense A would take
  f = run(*dev, *s, d);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kInvalidDescriptor);
  EXPECT_NE(f->detail.find("field 'lda' is smaller than m (kTransposeA: A is stored k x m)"), std::string::npos)
      << f->detail;
  d.flags = mme::kTransposeB;
  d.lda = 8, d.ldb = 16;  // B^T stored 16 x 8: ldb must be >= k = 8 -- it is
  EXPECT_FALSE(run(*dev, *s, d));
  d.ldb = 7;
  f = run(*dev, *s, d);
  ASSERT_TRUE(f);
  EXPECT_NE(f->detail.find("field 'ldb' is smaller than k (kTransposeB: B is stored n x k)"), std::string::npos)
      << f->detail;
}

TEST(MmeTransposeFaults, AnOperandPastItsMappingIsAPageFaultOverItsStoredExtent) {
  auto dev = testing::open_device();
  Stream* s = take(dev->create_stream());
  const uint64_t m = 16, k = 64, n = 32;
  auto a = take(dev->allocate(m * k * 4)), c = take(dev->allocate(m * n * 4));
  auto b = take(dev->allocate(n * k * 4));  // the last allocation: nothing mapped after it
  auto d = gemm_descriptor(m, k, n, f32, f32, f32);
  d.a_addr = a.address, d.b_addr = b.address, d.c_addr = c.address;
  d.flags = mme::kTransposeB;
  d.ldb = k;
  EXPECT_FALSE(run(*dev, *s, d));  // B^T dense, n x k: inside its allocation
  d.ldb = 1024;  // B^T's n rows far apart: past the allocation (and its page)
  const auto f = run(*dev, *s, d);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kPageFault);
  EXPECT_EQ(f->engine, "MME");
  const std::string span = std::to_string(((n - 1) * 1024 + k) * 4);
  EXPECT_NE(f->detail.find("MME operand B at " + hex(b.address) + " (" + span + " bytes) is not mapped"),
            std::string::npos)
      << f->detail;
  EXPECT_GE(f->address, b.address + n * k * 4);
}

TEST(MmeTransposeFaults, ABindingMustCoverTheTransposedExtent) {
  auto dev = testing::open_device();
  const uint64_t m = 2, k = 64, n = 4;
  // A^T stored 64 x 2 with rows 64 apart: (63 * 64 + 2) * 4 = 16136 bytes,
  // where a dense 2 x 64 A with the same lda would take 512.
  auto d = gemm_descriptor(m, k, n, f32, f32, f32);
  d.flags = mme::kTransposeA;
  d.lda = 64;
  d.a_addr = bound(0), d.b_addr = bound(1), d.c_addr = bound(2);
  CommandBuffer cb;
  cb.launch_mme(d);
  auto a = take(dev->allocate(16136)), b = take(dev->allocate(k * n * 4)), c = take(dev->allocate(m * n * 4));
  BindingTable small;
  small.bind_range(0, a.address, 1024).bind(1, b).bind(2, c);
  const auto r = dev->default_stream().submit(cb, small);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("binding slot 0: the command buffer touches 16136 bytes of it, but the bound "
                                      "range has 1024"),
            std::string::npos)
      << r.status().message();
  BindingTable exact;
  exact.bind_range(0, a.address, 16136).bind(1, b).bind(2, c);
  ASSERT_OK(dev->default_stream().wait(take(dev->default_stream().submit(cb, exact))));
}

// ----------------------------------------------------------------- timing

// The model (sim/src/mme_plan.cpp): the address generators transpose as they
// fetch, and memory counts bytes, so a transposed operand costs exactly what
// a dense one does -- the same array cycles and the same traffic.
TEST(MmeTransposeTiming, ATransposedGemmTakesExactlyTheDenseGemmsTime) {
  {
    auto dev = testing::open_device("validation/ws128_serial", /*functional=*/false);
    Stream* s = take(dev->create_stream());
    const uint64_t m = 257, k = 129, n = 1000;
    auto a = take(dev->allocate(m * k * 4)), b = take(dev->allocate(k * n * 4)), c = take(dev->allocate(m * n * 4));
    auto d = gemm_descriptor(m, k, n, f32, f32, f32);
    d.a_addr = a.address, d.b_addr = b.address, d.c_addr = c.address;
    const uint64_t dense = mme_ps(*dev, *s, testing::launch_descriptor(*dev, *s, d));
    d.flags = mme::kTransposeB, d.ldb = k;
    const uint64_t tb = mme_ps(*dev, *s, testing::launch_descriptor(*dev, *s, d));
    d.flags = mme::kTransposeA | mme::kTransposeB, d.lda = m;
    const uint64_t both = mme_ps(*dev, *s, testing::launch_descriptor(*dev, *s, d));
    // SCALE-Sim's closed form at 1 GHz: folds * (2R + C + m - 2) - 1 cycles.
    const uint64_t folds = ((k + 127) / 128) * ((n + 127) / 128);
    EXPECT_EQ(dense, (folds * (2 * 128 + 128 + m - 2) - 1) * 1000);
    EXPECT_EQ(tb, dense);
    EXPECT_EQ(both, dense);
  }
  {
    // A linear layer's GEMV on gaudi2 (HBM-bound): y = x W^T with W [n, k] read in place.
    auto dev = testing::open_device("gaudi2", false);
    Stream* s = take(dev->create_stream());
    const uint64_t k = 8192, n = 8192;
    auto a = take(dev->allocate(k * 2)), b = take(dev->allocate(k * n * 2)), c = take(dev->allocate(n * 2));
    auto d = gemm_descriptor(1, k, n, bf16, bf16, bf16);
    d.a_addr = a.address, d.b_addr = b.address, d.c_addr = c.address;
    const uint64_t dense = mme_ps(*dev, *s, testing::launch_descriptor(*dev, *s, d));
    d.flags = mme::kTransposeB, d.ldb = k;
    EXPECT_EQ(mme_ps(*dev, *s, testing::launch_descriptor(*dev, *s, d)), dense);
  }
}

}  // namespace
}  // namespace kiln::driver
