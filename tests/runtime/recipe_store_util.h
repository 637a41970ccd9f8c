// Helpers of the on-disk recipe cache tests: a scratch directory, a small
// lazy program of two steps (a GEMM with an epilogue, then a softmax), its
// cache files, and a second process that runs the same program.
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "host_reference.h"
#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime::testing {

namespace fs = std::filesystem;

// take(): host_reference.h.

// A fresh directory under the system's temporary one, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "kiln-recipe-cache-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<float> random_floats(std::size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

struct ProgramOptions {
  std::string dir;          // the disk cache ("" : $KILN_RECIPE_CACHE_DIR, else none)
  uint64_t limit = 0;       // its bytes (0: the default)
  Mode mode = Mode::kLazy;
  int steps = 2;            // 1: the first step only
  int64_t rows = 8;         // another value: other graphs
  int pause_ms = 0;         // between the steps, so their files' times differ
};

struct Outcome {
  std::vector<float> values;  // both steps' results
  RuntimeStats stats;
};

// Step 1: h = relu(x w + b) (the matrix engine, then the vector cores);
// step 2: y = softmax(0.5 h) (read to the host).
inline Outcome run_program(const ProgramOptions& p) {
  RuntimeOptions o;
  o.mode = p.mode;
  o.recipe_cache_dir = p.dir;
  o.recipe_cache_dir_bytes = p.limit;
  auto rt = take(Runtime::open("tiny", o));
  Tensor x = take(rt->from_host(random_floats(static_cast<std::size_t>(p.rows) * 16, 1), {p.rows, 16}));
  Tensor w = take(rt->from_host(random_floats(16 * 12, 2), {16, 12}));
  Tensor b = take(rt->from_host(random_floats(12, 3), {12}));
  Tensor h = take(relu(take(add(take(matmul(x, w)), b))));
  EXPECT_TRUE(rt->mark_step().ok());
  Outcome out;
  out.values = take(h.to_host<float>());
  if (p.steps > 1) {
    if (p.pause_ms) std::this_thread::sleep_for(std::chrono::milliseconds(p.pause_ms));
    Tensor y = take(softmax(take(mul(h, 0.5)), -1));
    const auto v = take(y.to_host<float>());
    out.values.insert(out.values.end(), v.begin(), v.end());
  }
  out.stats = rt->stats();
  return out;
}

// The cache files in `dir`, sorted by name; and its other entries.
inline std::vector<std::string> cache_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".recipe" && e.path().filename().string()[0] != '.') out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}
inline std::vector<std::string> other_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".recipe" || e.path().filename().string()[0] == '.') out.push_back(e.path().string());
  }
  return out;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace kiln::runtime::testing
