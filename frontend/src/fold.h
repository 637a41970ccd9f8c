// Load-time folding of shape computations, as ONNX Runtime's constant
// folding does: a node that computes small integer metadata (Shape, Size,
// and Gather/Concat/Slice/arithmetic... over such values and over integer
// initializers and Constants) is evaluated on the host, so that the shapes,
// axes and bounds it produces are known when the ops that read them are
// lowered. Shapes are static after binding, so Shape of a device value is
// host-known too. Real data never takes this path: only int32/int64/bool
// values of at most kMaxFoldElements elements fold, and never a graph
// input's values (those are data the device computes on).
#pragma once

#include <map>
#include <set>
#include <string>

#include "lowering.h"

namespace kiln::frontend::detail {

inline constexpr int64_t kMaxFoldElements = 1024;

// Whether `node` folds: an op the folder knows, every input in `constants`
// (initializers, Constants, folded values; for Shape and Size only the
// input's static shape counts), integer inputs and outputs of known shapes
// within the size bound, and attributes the folder handles.
bool foldable(const onnx::NodeProto& node, int64_t opset, const std::map<std::string, ValueInfo>& infos,
              const std::set<std::string>& constants);

// Evaluates a foldable node on the host: its outputs become host values.
Status fold(LowerContext& c);

}  // namespace kiln::frontend::detail
