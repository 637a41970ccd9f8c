// Subcommands of the `kiln` CLI. Each takes the arguments after its name and
// returns the process exit code; errors go to stderr with what was wrong.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace kiln::tools {

using Args = std::vector<std::string>;

// Prints "kiln <command>: <message>" on stderr; returns `exit_code` (1: the
// command failed, 2: its arguments are wrong).
inline int command_failed(const char* command, const std::string& message, int exit_code = 1) {
  std::fprintf(stderr, "kiln %s: %s\n", command, message.c_str());
  return exit_code;
}

int run_info(const Args& args);   // kiln info --config NAME|PATH
int run_trace(const Args& args);  // kiln trace export FILE --format chrome -o OUT.json
int run_gemm(const Args& args);   // kiln gemm M K N [--config C] [--dtype bf16|fp16|tf32|fp32]
int run_kernel(const Args& args); // kiln kernel list|run ...
int run_run(const Args& args);    // kiln run MODEL.onnx [--check DIR] ... (ONNX models)

}  // namespace kiln::tools
