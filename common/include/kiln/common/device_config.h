// Loading and validating device descriptions (proto/kiln/proto/device_config.proto).
//
// A config is named either by a path to a .textproto file or by a bare name
// ("gaudi2") looked up as <dir>/<name>.textproto in each directory of
// KILN_CONFIG_PATH (colon-separated), then in the installed and source
// configs/ directories. Loading validates every field: a missing, negative or
// inconsistent value fails with an error naming the file, the field path
// (e.g. "hbm.bandwidth_gb_per_s") and the problem.
//
// Thread-safe: free functions with no shared state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/proto/device_config.pb.h"

namespace kiln {

using DeviceConfig = proto::DeviceConfig;

// Resolves a name or path to the file that would be loaded.
Result<std::string> resolve_device_config_path(std::string_view name_or_path);

// Parses and validates a config file (text format).
Result<DeviceConfig> load_device_config(std::string_view name_or_path);

// Parses and validates text-format config content; `origin` names it in errors.
Result<DeviceConfig> parse_device_config(std::string_view text, std::string_view origin);

// Validates an already parsed config; `origin` names it in errors.
Status validate_device_config(const DeviceConfig& config, std::string_view origin);

// Directories searched for configs by name, in order.
std::vector<std::string> device_config_search_path();

// Derived figures, computed from the config (never stored in it).
double peak_matrix_flops(const DeviceConfig& config);  // bf16 FLOP/s of all MMEs
double peak_vector_flops(const DeviceConfig& config);  // bf16 FLOP/s of all TPCs (fma = 2 FLOPs)

}  // namespace kiln
