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
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "lowering.h"

namespace kiln::frontend::detail {

inline constexpr int64_t kMaxFoldElements = 1024;

// Evaluates `node` on the host if it folds: an op the folder knows, every
// input an int32/int64/bool value in `constants` (initializers, Constants,
// folded values) of at most kMaxFoldElements elements, or for Shape and
// Size an input of static shape; an output of at most kMaxFoldElements
// integers. nullopt if it does not fold (it is lowered to the device then);
// an error if it folds but its values are wrong (an index out of range, a
// division by zero).
Result<std::optional<HostTensor>> try_fold(const onnx::NodeProto& node, int64_t opset,
                                           const std::map<std::string, ValueInfo>& infos,
                                           const std::map<std::string, std::shared_ptr<const HostTensor>>& constants);

}  // namespace kiln::frontend::detail
