// Fuzz target: device configs as text (kiln::parse_device_config, which
// parses and validates), then config overrides (apply_config_overrides and
// expand_config_sweep) on strings taken from the input.
//
// Input: the text-format config up to the first NUL byte; after it, up to
// four NUL-separated override strings. The overrides apply to the parsed
// config when it was valid, otherwise to the tiny config, so they are
// exercised whatever the text did.
//
// Beyond "no crash, no sanitizer report", it checks the contract users rely
// on: a config that passed validation prints to text that parses and
// validates again to the same config, and its derived peaks are finite; an
// override either fails naming itself or leaves a valid config.
#include <google/protobuf/text_format.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/config_overrides.h"
#include "kiln/common/device_config.h"
#include "kiln/kernels/cost_model.h"

namespace {

void fail(const std::string& what) {
  std::fprintf(stderr, "config fuzz: %s\n", what.c_str());
  std::abort();
}

// What every validated config must allow.
void check_valid(const kiln::DeviceConfig& config) {
  const double peaks[] = {kiln::peak_matrix_flops(config), kiln::peak_vector_flops(config)};
  for (double p : peaks) {
    if (!std::isfinite(p) || p < 0) fail("a validated config has a peak of " + std::to_string(p));
  }
  // The vector cores' cost model reads its clock and prices from the config.
  const kiln::kernels::TpcCostModel model(config.tpc());
  (void)model;
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(config, &text)) fail("a validated config does not print");
  auto again = kiln::parse_device_config(text, "round trip");
  if (!again.ok()) fail("a validated config does not parse back: " + again.status().message());
  if (again->SerializeAsString() != config.SerializeAsString()) fail("a config changed on its way through text");
}

const kiln::DeviceConfig& tiny() {
  static const kiln::DeviceConfig config = [] {
    auto c = kiln::load_device_config("tiny");
    if (!c.ok()) fail("cannot load the tiny config: " + c.status().message());
    return *c;
  }();
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  std::vector<std::string> overrides;
  for (std::size_t at = nul; at != std::string_view::npos && overrides.size() < 4;) {
    const std::size_t next = input.find('\0', at + 1);
    overrides.emplace_back(input.substr(at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1));
    at = next;
  }

  auto parsed = kiln::parse_device_config(text, "fuzz");
  if (parsed.ok()) check_valid(*parsed);
  kiln::DeviceConfig config = parsed.ok() ? *parsed : tiny();

  for (const std::string& o : overrides) {
    auto sweep = kiln::expand_config_sweep(o);
    if (!sweep.ok()) continue;
    const std::string path = o.substr(0, o.find('=') + 1);
    for (const std::string& one : *sweep) {
      if (one.rfind(path, 0) != 0 || one.size() == path.size()) fail("a sweep value lost its path: " + one);
    }
  }
  const kiln::Status applied = kiln::apply_config_overrides(config, overrides);
  if (applied.ok()) {
    if (!overrides.empty()) check_valid(config);  // with none, nothing changed
  } else if (applied.message().find("config override '") == std::string::npos &&
             applied.message().find(" with ") == std::string::npos) {
    fail("an override failure that names no override: " + applied.message());
  }
  return 0;
}
