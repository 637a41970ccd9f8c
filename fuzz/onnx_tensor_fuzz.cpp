// Fuzz target: TensorProto files, the way `kiln run --inputs DIR` and
// `--check DIR` read them (kiln::frontend::read_tensor_file: protobuf's
// parser, then the conversion to a HostTensor), and the comparison `--check`
// applies to what was read.
//
// Input: the bytes of a tensor file (a serialized onnx.TensorProto), written
// to <tmp>/input_0.pb.
//
// Beyond "no crash, no sanitizer report", it checks what callers rely on:
// nothing throws; a failure is a Status naming the file; a tensor that reads
// has non-negative dims and exactly numel * dtype size bytes; compared with
// itself, it matches (NaN equals NaN) at every tolerance.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "kiln/frontend/host_tensor.h"

namespace {

namespace fs = std::filesystem;
using kiln::frontend::HostTensor;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "onnx_tensor fuzz: %s\n", what.c_str());
  std::abort();
}

// A directory of this process's own, removed at exit.
struct ScratchDir {
  fs::path dir;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const fs::path& tensor_path() {
  static const ScratchDir scratch = [] {
    const fs::path dir = fs::temp_directory_path() / ("kiln_onnx_tensor_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return ScratchDir{dir};
  }();
  static const fs::path path = scratch.dir / "input_0.pb";
  return path;
}

void check_read(const HostTensor& t) {
  uint64_t n = 1;
  for (int64_t d : t.shape) {
    if (d < 0) fail("a tensor read with the dim " + std::to_string(d));
    n *= static_cast<uint64_t>(d);  // bounded: its bytes are in memory
  }
  if (t.data.size() != n * kiln::dtype_size(t.dtype))
    fail(describe(t) + " read with " + std::to_string(t.data.size()) + " bytes");
  const auto c = kiln::frontend::compare(t, t, kiln::frontend::tolerance_for(t.dtype));
  if (!c.ok || c.mismatches != 0) fail(describe(t) + " differs from itself: " + c.message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const fs::path& path = tensor_path();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) fail("cannot write " + path.string());
  }
  try {
    auto t = kiln::frontend::read_tensor_file(path.string());
    if (t.ok()) {
      check_read(*t);
    } else if (t.status().message().find(path.string()) == std::string::npos) {
      fail("a failure that does not name the file: " + t.status().to_string());
    }
  } catch (const std::exception& e) {
    fail(std::string("an exception escaped: ") + e.what());
  } catch (...) {
    fail("an exception of unknown type escaped");
  }
  return 0;
}
