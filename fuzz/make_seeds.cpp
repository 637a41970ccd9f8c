// Writes the seed corpora of the fuzz targets: a handful of small valid and
// near-valid inputs per target, in each target's input format (the comment
// at the top of each fuzz/<target>_fuzz.cpp). The files under fuzz/corpus/
// are this program's output, committed; regenerate them after changing an
// input format or the kernel library:
//
//   scripts/fuzz.sh seeds        (runs build-fuzz/fuzz/make_seeds fuzz/corpus)
//
// A finding worth keeping (a crash that was fixed) is added by hand next to
// these, named after what it found.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/common/device_config.h"
#include "kiln/common/mme_descriptor.h"
#include "kiln/common/packets.h"
#include "kiln/driver/command_buffer.h"
#include "kiln/kernels/kernel_arg_block.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/kernels/library.h"
#include "onnx_seeds.h"

namespace {

namespace fs = std::filesystem;
using kiln::DType;
using kiln::driver::bound;
using kiln::driver::bound_sync;
using kiln::driver::CommandBuffer;
using Bytes = std::vector<uint8_t>;
namespace packets = kiln::packets;

fs::path g_root;

void write(const std::string& target, const std::string& name, const Bytes& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "make_seeds: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

void append(Bytes& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}
template <typename T>
void append_value(Bytes& out, T v) {
  append(out, &v, sizeof v);
}
void append(Bytes& out, const CommandBuffer& cb) { append(out, cb.bytes().data(), cb.bytes().size()); }

// Addresses as FuzzDevice::relocate reads them: bits 61..62 pick the fuzz
// buffer (HBM, host, SRAM), the rest is the offset into it.
constexpr uint64_t hbm(uint64_t offset) { return offset; }
constexpr uint64_t host(uint64_t offset) { return (uint64_t{1} << 61) | offset; }
constexpr uint64_t sram(uint64_t offset) { return (uint64_t{2} << 61) | offset; }

// A binding table as FuzzDevice::read_bindings reads it.
struct SeedBinding {
  uint8_t kind;    // 0 empty, 1 memory, 2 sync
  uint8_t region;  // memory: 0 HBM, 1 host, 2 SRAM, 3 unmapped
  uint16_t offset; // memory: offset into the buffer; sync: the sync object
  uint32_t value;  // memory: bytes; sync: base
};
void append_bindings(Bytes& out, const std::vector<SeedBinding>& table) {
  append_value<uint8_t>(out, static_cast<uint8_t>(table.size()));
  for (const SeedBinding& b : table) {
    append_value(out, b.kind);
    append_value(out, b.region);
    append_value(out, b.offset);
    append_value(out, b.value);
  }
}

// Slots 0..2 name the HBM, host and SRAM buffers (4 KiB at their start),
// slot 3 sync object 100 with base 0.
const std::vector<SeedBinding> kTable = {{1, 0, 0, 4096}, {1, 1, 0, 4096}, {1, 2, 0, 4096}, {2, 0, 100, 0}};

// ---- validator: mode byte, [4 limits], command buffer ---------------------

CommandBuffer every_user_packet() {
  CommandBuffer cb;
  cb.nop()
      .copy(0x1000'0000'0000, 0x1000'0001'0000, 256)
      .signal_when_done(200)
      .memset(0x1000'0000'0000, 0xdeadbeef, 100, 0)
      .signal(17, packets::SyncOp::ADD, 1)
      .write_memory(0x1000'0000'0040, 0x1122334455667788, 8)
      .arm_monitor(3, 17, 1, 2, 1)
      .arm_monitor_memory(4, 17, 1, 0x1000'0000'0080, 7, packets::MonitorCondition::EQUAL)
      .fence(1, 1)
      .wait_sync(17, 1)
      .wait_sync(bound_sync(2), 3)
      .launch_mme(0x1000'0000'0100)
      .launch_tpc(0x1234, bound(1, 64), 2)
      .stop();
  return cb;
}

void validator_seeds() {
  const CommandBuffer all = every_user_packet();
  Bytes b{0};
  append(b, all);
  write("validator", "every_packet", b);

  CommandBuffer priv;
  priv.write_register(packets::kRegWatchdogNs, 5000).write_register(packets::kRegScratchBase + 4, 1).nop();
  b = {1};
  append(b, priv);
  write("validator", "privileged_wreg32", b);
  b = {0};
  append(b, priv);
  write("validator", "wreg32_unprivileged", b);

  // Near-valid: each a valid buffer with one thing wrong.
  auto broken = [&](const std::string& name, std::size_t at, uint8_t value) {
    Bytes v{0};
    append(v, all);
    v[1 + at] = value;
    write("validator", name, v);
  };
  broken("unknown_opcode", 8, 12);      // the LIN_DMA's opcode
  broken("wrong_size", 10, 48);         // its size_bytes
  broken("reserved_flag", 9, 0x80);     // an unknown header flag
  broken("dma_flags", 8 + 32, 2);       // an unknown DMA flag
  b = {0};
  append(b, all.bytes().data(), 20);  // a NOP, then a truncated LIN_DMA
  write("validator", "truncated", b);

  // The device's counts chosen by the input: two queues, so sync objects 0
  // and 1 are retirement counters the buffer may not signal.
  CommandBuffer small;
  small.signal(1, packets::SyncOp::SET, 0).fence(0, 0);
  b = {2, 4, 4, 2, 1};
  append(b, small);
  write("validator", "small_limits", b);

  // Binding arithmetic: a table, then (address, size) pairs.
  b = {4};
  for (int i = 0; i < 4; ++i) {
    append_value<uint8_t>(b, 1);
    append_value<uint32_t>(b, 16 + i);
    append_value<uint32_t>(b, 4096);
    append_value<uint16_t>(b, 0);
  }
  for (uint64_t a : {bound(0, 0), bound(1, 4000), bound(2, 4096), packets::bound_address(packets::kArenaSlot, 8),
                     uint64_t{0x1234}}) {
    append_value<uint64_t>(b, a);
    append_value<uint16_t>(b, 96);
  }
  write("validator", "resolve_bindings", b);
}

// ---- config: text, then NUL-separated overrides -------------------------

Bytes text_of(const std::string& name) {
  auto path = kiln::resolve_device_config_path(name);
  std::ifstream in(path.ok() ? *path : name, std::ios::binary);
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) {
    std::fprintf(stderr, "make_seeds: cannot read config %s\n", name.c_str());
    std::exit(1);
  }
  return bytes;
}

void config_seeds() {
  write("config", "tiny", text_of("tiny"));
  write("config", "gaudi2", text_of("gaudi2"));
  auto with = [](Bytes text, std::vector<std::string> overrides) {
    for (const auto& o : overrides) {
      text.push_back(0);
      append(text, o.data(), o.size());
    }
    return text;
  };
  write("config", "tiny_overrides",
        with(text_of("tiny"), {"hbm.bandwidth_gb_per_s=3000", "mme.dataflow=WEIGHT_STATIONARY_SERIAL",
                               "tpc.instruction_costs.vector_alu.issue_cycles=0x2", "host_link.kind=x"}));
  write("config", "sweep", with({}, {"mme.array_rows=32,64,128", "command_processor.queues=0"}));
  write("config", "bad_overrides", with({}, {"hbm=3", "no.such=1", "mme.count=-1", "clocks.core_mhz=inf"}));
  const std::string unknown = "name: \"x\"\nno_such_field: 1\n";
  write("config", "unknown_field", Bytes(unknown.begin(), unknown.end()));
  std::string zero(reinterpret_cast<const char*>(text_of("tiny").data()), text_of("tiny").size());
  zero.replace(zero.find("queues: 8"), 9, "queues: 0");
  write("config", "zero_queues", Bytes(zero.begin(), zero.end()));
}

// ---- decoder: mode byte, binding table, command buffer --------------------

void decoder_seed(const std::string& name, bool privileged, const CommandBuffer& cb,
                  const std::vector<SeedBinding>& table = kTable) {
  Bytes b{static_cast<uint8_t>(privileged ? 1 : 0)};
  append_bindings(b, table);
  append(b, cb);
  write("decoder", name, b);
}

void decoder_seeds() {
  CommandBuffer cb;
  cb.memset(bound(1), 0x01020304, 1024)
      .copy(bound(0), bound(1), 1024)
      .signal_when_done(bound_sync(3))
      .copy(bound(2, 512), bound(0), 512, 0)
      .wait_sync(bound_sync(3), 1)
      .write_memory(bound(0, 8), 42, 8)
      .stop();
  decoder_seed("copies", false, cb);

  cb = CommandBuffer();
  cb.signal(bound_sync(3), packets::SyncOp::SET, 0)
      .arm_monitor(7, 100, 2, 1, 1)  // fence 1 of queue 1, the fuzz stream's (the default stream has queue 0)
      .arm_monitor_memory(8, 100, 1, bound(0, 16), 5)
      .signal(bound_sync(3), packets::SyncOp::ADD, 2)
      .fence(1, 1)
      .nop();
  decoder_seed("monitors_and_fences", false, cb);

  cb = CommandBuffer();
  cb.write_register(packets::kRegWatchdogNs, 2000).fence(2, 1).write_register(packets::kRegWatchdogNs, 0);
  decoder_seed("watchdog_fence_timeout", true, cb);

  // A descriptor written into HBM by the buffer itself, 8 bytes at a time,
  // then launched: a GEMM of the zeros (and the descriptor) around it.
  kiln::mme::Descriptor d = kiln::mme::gemm_descriptor(4, 4, 4, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = bound(0, 1024);
  d.b_addr = bound(1, 1024);
  d.c_addr = bound(2, 1024);
  uint64_t words[sizeof d / 8];
  std::memcpy(words, &d, sizeof d);
  cb = CommandBuffer();
  for (std::size_t i = 0; i < sizeof d / 8; ++i) cb.write_memory(bound(0, 8 * i), words[i], 8);
  cb.launch_mme(bound(0, 0));
  decoder_seed("mme_from_memory", false, cb);

  // A kernel argument block written the same way, then a relu over 64
  // floats from the host buffer into SRAM.
  kiln::kernels::KernelArgs args;
  args.add_tensor(kiln::kernels::TensorDesc::contiguous(bound(1), DType::kF32, {64}))
      .add_tensor(kiln::kernels::TensorDesc::contiguous(bound(2, 1024), DType::kF32, {64}));
  const auto block = kiln::kernels::encode_kernel_args(args);
  if (!block.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", block.status().message().c_str());
    std::exit(1);
  }
  cb = CommandBuffer();
  for (std::size_t i = 0; i < block->size(); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, block->data() + i, 8);
    cb.write_memory(bound(0, 2048 + i), word, 8);
  }
  cb.launch_tpc(kiln::kernels::kernel_id("relu"), bound(0, 2048), 0);
  decoder_seed("tpc_from_memory", false, cb);

  cb = CommandBuffer();
  cb.launch_tpc(0x1234, bound(0, 2048), 0);  // no such kernel (and no block unless one was written)
  decoder_seed("tpc_unknown_kernel", false, cb);

  // Near-valid: a binding missing, an unknown opcode after valid work, a
  // privileged packet unprivileged, a copy past its binding.
  cb = CommandBuffer();
  cb.copy(bound(0), bound(1), 64);
  decoder_seed("unbound_slot", false, cb, {});
  Bytes raw{0};
  append_bindings(raw, kTable);
  CommandBuffer ok;
  ok.nop().signal(bound_sync(3), packets::SyncOp::ADD, 1);
  append(raw, ok);
  append_value<uint64_t>(raw, 0x0000000000080000 | 0x0b);  // WAIT_SYNC's opcode with a size of 8
  write("decoder", "bad_size", raw);
  cb = CommandBuffer();
  cb.write_register(packets::kRegScratchBase, 1);
  decoder_seed("privileged_unprivileged", false, cb);
  cb = CommandBuffer();
  cb.copy(bound(0, 4000), bound(1), 200);
  decoder_seed("past_binding", false, cb);
}

// ---- mme: mode byte, descriptor, binding table ----------------------------

void mme_seed(const std::string& name, bool arena, const kiln::mme::Descriptor& d,
              const std::vector<SeedBinding>& table = {}) {
  Bytes b{static_cast<uint8_t>(arena ? 1 : 0)};
  append(b, &d, sizeof d);
  append_bindings(b, table);
  write("mme", name, b);
}

void mme_seeds() {
  using kiln::mme::gemm_descriptor;
  auto d = gemm_descriptor(8, 8, 8, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = hbm(0), d.b_addr = host(0), d.c_addr = sram(0);
  mme_seed("gemm_f32", false, d);

  d = gemm_descriptor(16, 32, 8, DType::kBF16, DType::kBF16, DType::kBF16, 2);
  d.a_addr = hbm(4096), d.b_addr = hbm(0), d.c_addr = host(0), d.bias_addr = sram(0);
  d.flags = kiln::mme::kHasBias;
  d.activation = static_cast<uint8_t>(kiln::mme::Activation::GELU_TANH);
  mme_seed("gemm_bf16_batched_bias_gelu", false, d);

  d = gemm_descriptor(8, 8, 8, DType::kF32, DType::kBF16, DType::kF32, 4);
  d.batch_stride_b = 0;  // shared weights
  d.a_addr = bound(0), d.b_addr = bound(1), d.c_addr = bound(2);
  mme_seed("gemm_bound_arena", true, d, kTable);

  auto c = kiln::mme::conv2d_descriptor(1, 3, 8, 8, 4, 3, 3, DType::kF32, DType::kF32, DType::kF32);
  c.pad_top = c.pad_bottom = c.pad_left = c.pad_right = 1;
  c.a_addr = hbm(0), c.b_addr = host(0), c.c_addr = sram(0);
  mme_seed("conv2d", false, c);

  // Depthwise (groups = C = K), asymmetric pads, stride 2, fp16 with bias.
  c = kiln::mme::conv2d_descriptor(1, 4, 9, 9, 4, 3, 3, DType::kF16, DType::kF16, DType::kF16, 4);
  c.stride_h = c.stride_w = 2, c.pad_top = 0, c.pad_bottom = 1, c.pad_left = 1, c.pad_right = 0;
  c.flags = kiln::mme::kHasBias;
  c.a_addr = hbm(0), c.b_addr = hbm(8192), c.c_addr = sram(0), c.bias_addr = sram(4096);
  mme_seed("conv2d_depthwise_f16", false, c);

  // Transposed operands, TF32, the exact GELU and a residual.
  d = gemm_descriptor(16, 8, 12, DType::kF32, DType::kF32, DType::kF32);
  d.flags = kiln::mme::kTransposeA | kiln::mme::kTransposeB | kiln::mme::kTf32 | kiln::mme::kHasResidual;
  d.lda = 16, d.ldb = 8;  // A stored k x m, B stored n x k
  d.activation = static_cast<uint8_t>(kiln::mme::Activation::GELU);
  d.r_dtype = static_cast<uint8_t>(DType::kF32);
  d.a_addr = hbm(0), d.b_addr = hbm(4096), d.c_addr = sram(0), d.r_addr = sram(0);
  mme_seed("gemm_transposed_tf32_residual", false, d);
  d = gemm_descriptor(8, 16, 8, DType::kF16, DType::kF16, DType::kBF16, 2);
  d.flags = kiln::mme::kTransposeB, d.ldb = 16;
  d.a_addr = bound(0), d.b_addr = bound(1), d.c_addr = bound(2);
  mme_seed("gemm_f16_transposed_b_bound", true, d, kTable);

  // Near-valid: C running past the end of its buffer, a bad magic, a zero
  // dimension, an unknown dtype, an operand past its binding.
  d = gemm_descriptor(64, 64, 64, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = hbm(0), d.b_addr = hbm(16384), d.c_addr = hbm(60000);
  mme_seed("c_out_of_range", false, d);
  d = gemm_descriptor(8, 8, 8, DType::kF32, DType::kF32, DType::kF32);
  d.magic = 0x454d4d4a;
  mme_seed("bad_magic", false, d);
  d = gemm_descriptor(8, 0, 8, DType::kF32, DType::kF32, DType::kF32);
  mme_seed("zero_k", false, d);
  d = gemm_descriptor(8, 8, 8, DType::kF32, DType::kI32, DType::kF32);
  mme_seed("i32_weights", false, d);
  d = gemm_descriptor(64, 64, 64, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = bound(0), d.b_addr = bound(1), d.c_addr = bound(2);
  mme_seed("past_binding", false, d, kTable);
}

// ---- kernel_args: kernel byte, cores byte, argument block ----------------

// The wire-format block of `a` (kernel_arg_block.h); aborts if `a` cannot be
// encoded, so every seed but the near-valid ones below is a valid block.
Bytes block_of(const kiln::kernels::KernelArgs& a) {
  auto block = kiln::kernels::encode_kernel_args(a);
  if (!block.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", block.status().message().c_str());
    std::exit(1);
  }
  return *block;
}

void kernel_seed(const std::string& kernel, uint8_t cores, const Bytes& block, const std::string& name) {
  const auto names = kiln::kernels::builtin_kernel_names();
  std::size_t index = 0;
  while (index < names.size() && names[index] != kernel) ++index;
  if (index == names.size() || index > 255) {
    std::fprintf(stderr, "make_seeds: no kernel %s\n", kernel.c_str());
    std::exit(1);
  }
  Bytes b{static_cast<uint8_t>(index), cores};
  append(b, block.data(), block.size());
  write("kernel_args", name.empty() ? kernel : name, b);
}
void kernel_seed(const std::string& kernel, uint8_t cores, const kiln::kernels::KernelArgs& args,
                 const std::string& name = "") {
  kernel_seed(kernel, cores, block_of(args), name);
}

void kernel_args_seeds() {
  using kiln::kernels::KernelArgs;
  using kiln::kernels::TensorDesc;
  const auto f32 = [](uint64_t a, std::initializer_list<int64_t> dims) {
    return TensorDesc::contiguous(a, DType::kF32, dims);
  };
  KernelArgs a;
  a.add_tensor(f32(hbm(0), {64, 4})).add_tensor(f32(host(0), {64, 1})).add_tensor(f32(sram(0), {64, 4}));
  kernel_seed("add", 0, a);
  a = {};
  a.add_tensor(TensorDesc::contiguous(hbm(0), DType::kBF16, {300})).add_tensor(TensorDesc::contiguous(hbm(4096), DType::kBF16, {300}));
  kernel_seed("relu", 1, a);
  a = {};
  a.add_tensor(f32(hbm(0), {32, 8})).add_tensor(f32(host(0), {32, 8})).add_int(0);
  kernel_seed("softmax", 2, a);
  a = {};
  a.add_tensor(f32(hbm(0), {32, 8})).add_tensor(f32(host(0), {1, 8})).add_int(0);
  kernel_seed("reduce_sum", 0, a);
  a = {};
  a.add_tensor(f32(hbm(0), {16, 10}))
      .add_tensor(TensorDesc::contiguous(host(0), DType::kI32, {5}))
      .add_tensor(f32(sram(0), {16, 5}))
      .add_int(1);
  kernel_seed("gather", 0, a);
  a = {};
  a.add_tensor(f32(hbm(0), {8, 4})).add_tensor(f32(host(0), {12, 6})).add_int(1).add_int(1).add_int(3).add_int(1);
  kernel_seed("pad", 0, a);
  a = {};
  a.add_tensor(f32(hbm(0), {4, 8, 8, 1})).add_tensor(f32(host(0), {4, 4, 4, 1})).add_int(2).add_int(2);
  kernel_seed("max_pool2d", 0, a);
  a = {};
  a.add_tensor(f32(hbm(0), {4, 8, 2})).add_tensor(f32(host(0), {8, 2, 4})).add_int(1).add_int(2).add_int(0);
  kernel_seed("permute", 0, a);
  a = {};
  a.add_tensor(f32(hbm(0), {64, 2})).add_tensor(TensorDesc::contiguous(host(0), DType::kBF16, {64, 2}));
  kernel_seed("cast", 0, a);
  a = {};
  a.add_tensor(f32(hbm(0), {32, 4})).add_tensor(f32(host(0), {32})).add_tensor(f32(host(512), {32}))
      .add_tensor(f32(sram(0), {32, 4})).add_int(1).add_float(1e-5f);
  kernel_seed("layer_norm", 0, a);

  // Bound tensors, resolved against no binding table: a page fault.
  a = {};
  a.add_tensor(f32(bound(0), {64})).add_tensor(f32(bound(1), {64}));
  kernel_seed("relu", 0, a, "relu_unbound");

  // Near-valid: a tensor running past its buffer, too few tensors for the
  // kernel, and blocks with one field of the wire format wrong.
  a = {};
  a.add_tensor(f32(hbm(60000), {4096})).add_tensor(f32(host(0), {4096}));
  kernel_seed("relu", 0, a, "relu_out_of_range");
  a = {};
  a.add_tensor(f32(hbm(0), {64}));
  kernel_seed("add", 0, a, "add_one_tensor");
  a = {};
  a.add_tensor(f32(hbm(0), {64})).add_tensor(f32(host(0), {64})).add_int(3).add_float(0.5f);
  const Bytes good = block_of(a);
  namespace kk = kiln::kernels;
  const std::size_t t1 = sizeof(kk::KernelArgBlockHeader) + sizeof(kk::KernelArgTensor);
  auto broken = [&](const std::string& name, std::size_t at, const void* value, std::size_t n) {
    Bytes b = good;
    std::memcpy(b.data() + at, value, n);
    kernel_seed("relu", 0, b, name);
  };
  const uint8_t six = 6, one = 1, nine = 9, f16_dtype = static_cast<uint8_t>(DType::kF16);
  const uint16_t version2 = 2;
  const uint32_t total_plus8 = static_cast<uint32_t>(good.size() + 8);
  const int64_t minus5 = -5, two = 2, huge = int64_t{1} << 43;
  broken("bad_magic", 0, "KARH", 4);
  broken("bad_version", offsetof(kk::KernelArgBlockHeader, version), &version2, 2);
  broken("bad_total", offsetof(kk::KernelArgBlockHeader, total_bytes), &total_plus8, 4);
  broken("too_many_tensors", offsetof(kk::KernelArgBlockHeader, num_tensors), &nine, 1);
  broken("reserved_byte", offsetof(kk::KernelArgBlockHeader, reserved), &one, 1);
  broken("bad_rank", t1 + offsetof(kk::KernelArgTensor, rank), &six, 1);
  broken("f16_tensor", t1 + offsetof(kk::KernelArgTensor, dtype), &f16_dtype, 1);
  broken("negative_dim", t1 + offsetof(kk::KernelArgTensor, dims), &minus5, 8);
  broken("dim_beyond_rank", t1 + offsetof(kk::KernelArgTensor, dims) + 8, &two, 8);
  broken("huge_stride", t1 + offsetof(kk::KernelArgTensor, strides), &huge, 8);
  broken("padding", good.size() - 1, &one, 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <corpus-dir>   (writes <corpus-dir>/<target>/<seed>)\n");
    return 2;
  }
  g_root = argv[1];
  validator_seeds();
  config_seeds();
  decoder_seeds();
  mme_seeds();
  kernel_args_seeds();
  kiln::fuzz::onnx_seeds(g_root);
  return 0;
}
