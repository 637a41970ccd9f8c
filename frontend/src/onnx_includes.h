// ONNX's headers, included as system headers: they are not -Wextra clean
// and must not fail our -Werror build. The macros are the ones Debian's
// libonnx was built with (its CMake targets pass them too).
#pragma once

#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif

#pragma GCC system_header
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
