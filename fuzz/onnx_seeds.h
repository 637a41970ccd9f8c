// The seeds of the ONNX targets (fuzz/onnx_seeds.cpp), for make_seeds.
#pragma once

#include <filesystem>

namespace kiln::fuzz {

// Writes <root>/onnx_model/* and <root>/onnx_tensor/*.
void onnx_seeds(const std::filesystem::path& root);

}  // namespace kiln::fuzz
