// kiln: the command-line front end. `kiln help` lists the subcommands.
#include <cstdio>
#include <string>

#include "commands.h"

namespace {

void print_usage() {
  std::fprintf(stderr,
               "usage: kiln <command> [args]\n"
               "commands:\n"
               "  info --config NAME|PATH           print a device description\n"
               "  trace export FILE --format chrome -o OUT.json\n"
               "                                    convert a Kiln trace to Chrome trace JSON\n"
               "  trace summary FILE                per-engine busy time, utilisation, bytes\n"
               "  gemm M K N [--config C] [--dtype bf16|fp16|tf32|fp32]\n"
               "                                    time one GEMM on the simulated matrix engines\n"
               "  run MODEL.onnx [--check DIR] [--mode eager|lazy|graph] ...\n"
               "                                    run an ONNX model on the simulated device\n"
               "  kernel run --lib X.so --kernel NAME --shape D0,D1,...\n"
               "                                    check a vector-core kernel on the simulated TPC\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage();
    return 2;
  }
  const std::string command = argv[1];
  kiln::tools::Args args(argv + 2, argv + argc);
  if (command == "info") return kiln::tools::run_info(args);
  if (command == "trace") return kiln::tools::run_trace(args);
  if (command == "gemm") return kiln::tools::run_gemm(args);
  if (command == "kernel") return kiln::tools::run_kernel(args);
  if (command == "run") return kiln::tools::run_run(args);
  if (command == "help" || command == "--help" || command == "-h") {
    print_usage();
    return 0;
  }
  std::fprintf(stderr, "kiln: unknown command '%s'\n", command.c_str());
  print_usage();
  return 2;
}
