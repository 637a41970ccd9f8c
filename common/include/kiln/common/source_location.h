// The caller's file, line and function, taken by a defaulted argument:
//
//   Status read(void* dst, SourceLocation where = SourceLocation::current());
//
// std::source_location needs __builtin_source_location, which clang 14
// lacks: with libstdc++ 12 the header compiles to nothing there, and the
// fuzz build (clang 14, docs/fuzzing.md) could not build the runtime. The
// three builtins below exist in GCC and clang alike. One difference from
// std::source_location: function_name() is the bare name ("TestBody"), not
// GCC's full signature ("virtual void Foo_Test::TestBody()").
//
// A trivially copyable value; the strings are literals with static storage.
#pragma once

#include <cstdint>

namespace kiln {

class SourceLocation {
 public:
  // The builtins in default arguments are evaluated where the call is
  // written, so the location is the caller's, as with std::source_location.
  static constexpr SourceLocation current(const char* file = __builtin_FILE(), uint32_t line = __builtin_LINE(),
                                          const char* function = __builtin_FUNCTION()) noexcept {
    return SourceLocation(file, line, function);
  }
  constexpr SourceLocation() noexcept = default;

  constexpr const char* file_name() const noexcept { return file_; }
  constexpr uint32_t line() const noexcept { return line_; }
  constexpr const char* function_name() const noexcept { return function_; }

 private:
  constexpr SourceLocation(const char* file, uint32_t line, const char* function) noexcept
      : file_(file), line_(line), function_(function) {}
  const char* file_ = "";
  uint32_t line_ = 0;
  const char* function_ = "";
};

}  // namespace kiln
