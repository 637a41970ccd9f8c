// Inside kiln_runtime: what the compiler and recorder need of the custom-op
// registry (kiln/runtime/custom_op.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "kiln/runtime/custom_op.h"

namespace kiln::runtime {

// nullptr when no op of that name is registered.
std::shared_ptr<const CustomOpDef> find_custom_op(std::string_view name);
// The id a kCustom node carries in attrs.ints[0]: stable across processes
// (FNV-1a of the name, like kernel ids), so on-disk recipes key on it.
uint64_t custom_op_id(std::string_view name);
// The fusion group of the nodes the calling thread records now: 0, or the
// group of the non-fusable composition it is inside (Node::fusion_group).
uint32_t recording_fusion_group();

}  // namespace kiln::runtime
