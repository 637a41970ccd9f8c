// KernelContext: what a kernel sees while it runs one slice of its index space
// on one TPC core -- its arguments, its slice, memory, and the counters.
//
// Memory access. Vector loads and stores address a vector along dim 0: the
// lanes of a load at coordinate c are elements c + (i, 0, 0, 0, 0). Lanes that
// fall outside the tensor (the tail of a row whose length is not a multiple of
// the vector width, a negative coordinate, or higher coords out of range) are
// not accessed: loads fill them with `pad`, stores drop them. A masked store
// also drops lanes whose mask bit is clear. Dim-0 stride 1 is one MemoryPort
// call per vector; stride 0 (a broadcast view) reads one element and
// replicates it; other strides read the span in one call when it is at most
// 16 KiB, else element by element (bytes counted are the elements used).
//
// Counting. Each load/store call counts one instruction of its class and the
// bytes actually moved; intrinsics count themselves (vector_ops.h). Scalar
// arithmetic the kernel does in plain C++ is counted with count(kScalarAlu).
//
// Faults. A MemoryPort failure, a dtype mismatch (e.g. load_f32 on a bf16
// tensor) or a kernel's own raise_fault() records the FIRST fault; from then on
// loads return pad, stores do nothing and nothing more is counted (the core has
// stopped). Kernels may poll faulted() to stop early. Nothing throws or crashes.
//
// Ownership and threading: the context borrows the MemoryPort and the
// arguments, which must outlive it. One context per slice, used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kiln/kernels/cost_model.h"
#include "kiln/kernels/index_space.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/memory_port.h"
#include "kiln/kernels/tensor.h"
#include "kiln/kernels/vector.h"

namespace kiln::kernels {

enum class KernelFaultCause {
  kMemoryFault,      // the MemoryPort refused the access
  kDTypeMismatch,    // a load/store whose type does not match the tensor's dtype
  kOutOfBounds,      // a scalar access outside the tensor, or a bad data-dependent index
  kException,        // the kernel threw (run_kernel_slice caught it); detail: "threw: <what>"
};
std::string_view kernel_fault_cause_name(KernelFaultCause cause);

struct KernelFault {
  KernelFaultCause cause = KernelFaultCause::kMemoryFault;
  uint64_t address = 0;  // faulting device address (0 when there is none)
  std::string detail;

  // "memory fault at 0x1000: vector load of 256 bytes from f32[100] ..."
  std::string describe() const;
};

class KernelContext {
 public:
  KernelContext(MemoryPort& memory, const KernelArgs& args, const IndexSlice& slice);
  KernelContext(const KernelContext&) = delete;
  KernelContext& operator=(const KernelContext&) = delete;

  const KernelArgs& args() const { return args_; }
  const TensorDesc& tensor(int i) const { return args_.tensors[static_cast<size_t>(i)]; }
  const IndexSlice& slice() const { return slice_; }

  // ---- vector memory access (one load/store-slot instruction each) ----
  // Each load/store takes the tensor of its own dtype; another is a
  // kDTypeMismatch fault.
  VecF32 load_f32(const TensorDesc& t, const Coord& c, float pad = 0.0f);
  VecBF16 load_bf16(const TensorDesc& t, const Coord& c, bf16 pad = bf16{});
  VecF16 load_f16(const TensorDesc& t, const Coord& c, f16 pad = f16{});
  VecI32 load_i32(const TensorDesc& t, const Coord& c, int32_t pad = 0);
  VecI64 load_i64(const TensorDesc& t, const Coord& c, int64_t pad = 0);
  // Reads `lanes` (clamped to 1..256) bool elements into lanes [0, lanes);
  // the other lanes, and lanes outside the tensor, read `pad`. Fewer lanes is
  // a partial vector: still one instruction, but only its bytes move (a kernel
  // computing 64 fp32 lanes at a time reads 64 bytes of a bool tensor). Any
  // non-zero byte reads as 1.
  VecBool load_bool(const TensorDesc& t, const Coord& c, int lanes = kBoolLanes, bool pad = false);
  void store(const TensorDesc& t, const Coord& c, const VecF32& v);
  void store(const TensorDesc& t, const Coord& c, const VecF32& v, Mask mask);
  void store(const TensorDesc& t, const Coord& c, const VecBF16& v);
  void store(const TensorDesc& t, const Coord& c, const VecF16& v);
  void store(const TensorDesc& t, const Coord& c, const VecI32& v);
  void store(const TensorDesc& t, const Coord& c, const VecI64& v);
  // Stores lanes [0, lanes) (clamped to 1..256) of v: a partial vector as above.
  void store(const TensorDesc& t, const Coord& c, const VecBool& v, int lanes = kBoolLanes);

  // ---- scalar memory access (one load/store-slot instruction each) ----
  // Loads an fp32, bf16 or f16 element as float.
  float load_scalar(const TensorDesc& t, const Coord& c);
  int32_t load_scalar_i32(const TensorDesc& t, const Coord& c);
  int64_t load_scalar_i64(const TensorDesc& t, const Coord& c);
  // Stores to an fp32, bf16 or f16 tensor (rounded to nearest even for bf16/f16).
  void store_scalar(const TensorDesc& t, const Coord& c, float v);
  void store_scalar_i32(const TensorDesc& t, const Coord& c, int32_t v);
  void store_scalar_i64(const TensorDesc& t, const Coord& c, int64_t v);
  // The bytes of one element of any dtype, zero-extended, and back: data
  // movement that never converts (gather along dim 0).
  uint64_t load_scalar_bits(const TensorDesc& t, const Coord& c);
  void store_scalar_bits(const TensorDesc& t, const Coord& c, uint64_t bits);

  // ---- accounting ----
  void count(OpClass c, uint64_t n = 1) {
    if (!fault_ && !(second_half_ && slot_of(c) == Slot::kVector)) counters_.ops[static_cast<int>(c)] += n;
  }
  // While set, vector-slot instructions are not counted: the code is computing
  // the second half of a 128-lane bf16 vector, which the first half's
  // instruction already covered (see wide.h; use SecondHalfScope).
  void set_second_half(bool on) { second_half_ = on; }
  bool second_half() const { return second_half_; }
  void add_stall_cycles(uint64_t cycles) {
    if (!fault_) counters_.extra_stall_cycles += cycles;
  }
  const SliceCounters& counters() const { return counters_; }

  // ---- faults ----
  bool faulted() const { return fault_.has_value(); }
  const std::optional<KernelFault>& fault() const { return fault_; }
  // Records a fault unless one is already recorded.
  void raise_fault(KernelFaultCause cause, uint64_t address, std::string detail);

 private:
  // Loads `lanes` elements of `elem` bytes along dim 0 into dst (pad already
  // written); returns false after recording a fault.
  bool load_lanes(const TensorDesc& t, const Coord& c, int lanes, void* dst, const char* what);
  bool store_lanes(const TensorDesc& t, const Coord& c, int lanes, const void* src, Mask mask,
                   const char* what);
  bool check_dtype(const TensorDesc& t, DType want, const char* what);
  bool scalar_address(const TensorDesc& t, const Coord& c, const char* what, uint64_t* addr);
  // One element's bytes at c (dtype already checked); false after a fault.
  bool scalar_read(const TensorDesc& t, const Coord& c, void* dst);
  bool scalar_write(const TensorDesc& t, const Coord& c, const void* src);
  template <typename V, typename P>
  V load_vector(const TensorDesc& t, const Coord& c, DType want, int lanes, P pad);

  MemoryPort& memory_;
  const KernelArgs& args_;
  IndexSlice slice_;
  SliceCounters counters_;
  std::optional<KernelFault> fault_;
  bool second_half_ = false;
};

}  // namespace kiln::kernels
