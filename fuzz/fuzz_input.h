// Reading a fuzzer's input as fixed-size fields. Header-only, so targets that
// need no device (validator, configs) link only the libraries they test.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace kiln::fuzz {

// Reads little-endian values from the front of an input; past its end it
// reads zeros, so every input decodes to something and short inputs are
// still worth running.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  uint64_t u64() { return take(8); }
  // Copies up to `n` bytes into `out` and zero-fills the rest.
  void copy(void* out, std::size_t n) {
    const std::size_t have = std::min(n, bytes_.size() - pos_);
    if (have > 0) std::memcpy(out, bytes_.data() + pos_, have);
    std::memset(static_cast<uint8_t*>(out) + have, 0, n - have);
    pos_ += have;
  }
  // What has not been read yet.
  std::span<const uint8_t> rest() const { return bytes_.subspan(pos_); }

 private:
  uint64_t take(std::size_t n) {
    uint64_t v = 0;
    for (std::size_t i = 0; i < n && pos_ < bytes_.size(); ++i) v |= uint64_t{bytes_[pos_++]} << (8 * i);
    return v;
  }
  std::span<const uint8_t> bytes_;
  std::size_t pos_ = 0;
};

}  // namespace kiln::fuzz
