// Changing a device description from the command line or a sweep: "what if
// HBM were 3 TB/s, or the matrix array 512 wide?" without editing a file.
//
// An override is "path=value": `path` names a scalar field by its field names
// joined with dots, as in the text-format configs ("hbm.bandwidth_gb_per_s",
// "mme.array_rows", "tpc.instruction_costs.vector_alu.issue_cycles",
// "mme.dataflow"); `value` is parsed as that field's type (numbers, true or
// false, an enum value's name, a string).
//
// Thread-safe: free functions with no shared state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/device_config.h"
#include "kiln/common/status.h"

namespace kiln {

// Applies the overrides in order, then validates the result. Errors name the
// override and what is wrong: an unknown field (listing the fields that exist
// there), a value that does not parse or fit, or the validation failure. On
// error `config` may be partly changed; callers discard it.
Status apply_config_overrides(DeviceConfig& config, const std::vector<std::string>& overrides);

// "path=v1,v2,..." into one override per value, for sweeps.
Result<std::vector<std::string>> expand_config_sweep(std::string_view sweep);

}  // namespace kiln
