// The frontend tests' files (models, tensors, external data) live in one
// directory per test process under the system's temporary one, removed when
// the process exits: gtest_discover_tests runs each case in a process of its
// own, and a directory per process kept CI machines' /tmp growing.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace kiln::frontend::testing {

inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir() {
      std::string name = "kiln_frontend_tests_";
      name += std::to_string(::getpid());  // not "literal" + string: GCC 12's false -Wrestrict at -O3
      path = std::filesystem::temp_directory_path() / name;
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ignored;  // nothing to report to at exit
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir;
  return dir.path;
}

}  // namespace kiln::frontend::testing
