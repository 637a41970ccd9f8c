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

#include "kiln/common/dtype.h"
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

// MACs per MME array cell per cycle for a job whose inputs are `a` and `b`
// (MME dtypes: f32, bf16, f16): the slower input's rate from the config's
// mme.*_macs_per_cell_per_cycle, bf16 being 1 by definition; f32 counts as
// TF32 when `tf32` (the descriptor's kTf32 flag). 0 for a dtype the MME does
// not take.
double mme_macs_per_cell_per_cycle(const proto::MmeConfig& mme, DType a, DType b, bool tf32 = false);
// The peak FLOP/s of all MMEs for such a job: the bf16 peak times that rate.
double peak_matrix_flops(const DeviceConfig& config, DType a, DType b, bool tf32 = false);
double peak_vector_flops(const DeviceConfig& config);  // bf16 FLOP/s of all TPCs (fma = 2 FLOPs)

}  // namespace kiln
