// What an engine job moves through memory: the one way DMA, MME and TPC jobs
// charge the shared-bandwidth model. Bytes read count against the memory
// they are read from and bytes written against the memory they are written
// to, so a copy within HBM moves its bytes through HBM twice, and a kernel
// whose tensors live in different memories loads each one's bytes from its
// own memory.
//
// A plain value; the device turns it into one bandwidth flow
// (DeviceImpl::start_traffic) and a first-byte latency.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kiln/common/memory_kind.h"
#include "mmu.h"

namespace kiln::sim {

class Traffic {
 public:
  static constexpr int kKinds = 3;  // MemoryKind: HBM, SRAM, host

  void read(MemoryKind kind, uint64_t bytes) { add(read_, kind, bytes); }
  void write(MemoryKind kind, uint64_t bytes) { add(written_, kind, bytes); }
  // Each segment's bytes, from (to) its own memory.
  void read(const std::vector<Segment>& segments) {
    for (const Segment& s : segments) read(s.kind, s.size);
  }
  void write(const std::vector<Segment>& segments) {
    for (const Segment& s : segments) write(s.kind, s.size);
  }
  // `bytes` of traffic over a range laid out as `segments`, shared among its
  // memories in proportion to how much of the range each holds (an operand
  // streamed several times over its span).
  void read_spread(const std::vector<Segment>& segments, uint64_t bytes) { spread(read_, segments, bytes); }
  void write_spread(const std::vector<Segment>& segments, uint64_t bytes) { spread(written_, segments, bytes); }
  Traffic& operator+=(const Traffic& o) {
    for (int k = 0; k < kKinds; ++k) {
      read_[k] += o.read_[k];
      written_[k] += o.written_[k];
    }
    return *this;
  }

  uint64_t read_bytes(MemoryKind kind) const { return read_[index(kind)]; }
  uint64_t written_bytes(MemoryKind kind) const { return written_[index(kind)]; }
  uint64_t total() const {
    uint64_t t = 0;
    for (int k = 0; k < kKinds; ++k) t += read_[k] + written_[k];
    return t;
  }
  bool touches(MemoryKind kind) const { return read_bytes(kind) + written_bytes(kind) > 0; }

 private:
  static int index(MemoryKind kind) { return static_cast<int>(kind) % kKinds; }
  static void add(std::array<uint64_t, kKinds>& to, MemoryKind kind, uint64_t bytes) { to[index(kind)] += bytes; }
  static void spread(std::array<uint64_t, kKinds>& to, const std::vector<Segment>& segments, uint64_t bytes) {
    uint64_t span = 0;
    for (const Segment& s : segments) span += s.size;
    if (span == 0) return;
    uint64_t given = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      // The last segment takes the rounding remainder, so the total is exact.
      const uint64_t part = i + 1 == segments.size()
                                ? bytes - given
                                : static_cast<uint64_t>(static_cast<long double>(bytes) * segments[i].size / span);
      add(to, segments[i].kind, part);
      given += part;
    }
  }

  std::array<uint64_t, kKinds> read_{};
  std::array<uint64_t, kKinds> written_{};
};

}  // namespace kiln::sim
