// Loading and validating device descriptions. See device_config.h for the
// contract; this file holds the search-path logic, the text-format parser
// glue and the validation rules.
#include "kiln/common/device_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>

namespace kiln {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kConfigExtension = ".textproto";

// Packets carry a queue index as uint16 (MonitorArmPacket::target_queue), so a
// device cannot have more queues than that addresses.
constexpr uint32_t kMaxQueues = 65535;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool file_exists(const fs::path& p) {
  std::error_code ec;  // a permission error reads as "not there", not as a throw
  return fs::is_regular_file(p, ec);
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += sep;
    out += part;
  }
  return out;
}

// Names of the configs found in `dirs`, to make a "not found" error actionable.
std::vector<std::string> available_config_names(const std::vector<std::string>& dirs) {
  std::set<std::string> names;  // sorted and deduplicated across directories
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.extension() == kConfigExtension && file_exists(p)) names.insert(p.stem().string());
    }
  }
  return {names.begin(), names.end()};
}

// Text-format errors as "<origin>:<line>:<col>: <message>" (1-based, as editors
// and compilers print them; protobuf reports 0-based positions).
class OriginErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit OriginErrorCollector(std::string_view origin) : origin_(origin) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    std::ostringstream os;
    os << origin_ << ':' << (line + 1) << ':' << (column + 1) << ": " << message;
    errors_.push_back(os.str());
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string origin_;
  std::vector<std::string> errors_;
};

// Formats a number for an error message: integers without a fraction, doubles
// in %g so that "-5", "0.5" and "nan" read naturally.
std::string show(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
std::string show(uint64_t v) { return std::to_string(v); }

// Accumulates validation problems as "field '<path>' <problem>", then renders
// them as one message prefixed by the origin. Every problem is reported, not
// only the first, so a hand-edited config is fixed in one round.
class Validator {
 public:
  explicit Validator(std::string_view origin) : origin_(origin) {}

  void fail(std::string_view path, const std::string& problem) {
    problems_.push_back("field '" + std::string(path) + "' " + problem);
  }

  // Returns false (and records why) if a submessage is absent; its fields are
  // then not checked one by one, which would only repeat the same news.
  bool present(bool has, std::string_view path) {
    if (!has) fail(path, "is missing");
    return has;
  }

  void non_empty(const std::string& v, std::string_view path) {
    if (v.empty()) fail(path, "must not be empty");
  }

  void positive(uint64_t v, std::string_view path) {
    if (v == 0) fail(path, "must be > 0 (got 0)");
  }

  void at_most(uint64_t v, uint64_t max, std::string_view path) {
    if (v > max) fail(path, "must be <= " + show(max) + " (got " + show(v) + ")");
  }

  void power_of_two(uint64_t v, std::string_view path) {
    if (v != 0 && (v & (v - 1)) != 0) fail(path, "must be a power of two (got " + show(v) + ")");
  }

  // A physical quantity that must be a finite, strictly positive number.
  void positive(double v, std::string_view path) {
    if (!finite(v, path)) return;
    if (!(v > 0)) fail(path, "must be > 0 (got " + show(v) + ")");
  }

  // A quantity where zero means "ideal" (no latency) but negative is nonsense.
  void non_negative(double v, std::string_view path) {
    if (!finite(v, path)) return;
    if (v < 0) fail(path, "must be >= 0 (got " + show(v) + ")");
  }

  Status status() const {
    if (problems_.empty()) return Status::ok_status();
    return invalid_argument(origin_ + ": " + join(problems_, "; "));
  }

 private:
  bool finite(double v, std::string_view path) {
    if (std::isfinite(v)) return true;
    fail(path, "must be a finite number (got " + show(v) + ")");
    return false;
  }

  std::string origin_;
  std::vector<std::string> problems_;
};

void check_memory(Validator& v, const proto::MemoryConfig& m, const std::string& path) {
  v.positive(m.capacity_mib(), path + ".capacity_mib");
  // The simulator reserves host address space for it (sim/src/backing_store.h):
  // 4 PiB is far beyond any device and keeps the byte count in 64 bits.
  v.at_most(m.capacity_mib(), uint64_t{1} << 32, path + ".capacity_mib");
  v.positive(m.bandwidth_gb_per_s(), path + ".bandwidth_gb_per_s");
  v.non_negative(m.latency_ns(), path + ".latency_ns");
}

// Every class must be priced: a missing one would silently cost 0 cycles.
// Reflection walks the classes so a class added to the schema is checked too.
void check_instruction_costs(Validator& v, const proto::TpcInstructionCosts& costs) {
  constexpr uint64_t kMaxCycles = 1u << 16;  // far beyond any real unit; keeps cycle sums exact
  const auto* descriptor = costs.GetDescriptor();
  const auto* reflection = costs.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const auto* field = descriptor->field(i);
    const std::string path = "tpc.instruction_costs." + std::string(field->name());
    if (!v.present(reflection->HasField(costs, field), path)) continue;
    const auto& cost = static_cast<const proto::TpcInstructionCost&>(reflection->GetMessage(costs, field));
    v.positive(uint64_t{cost.issue_cycles()}, path + ".issue_cycles");
    v.at_most(cost.issue_cycles(), kMaxCycles, path + ".issue_cycles");
    v.at_most(cost.stall_cycles(), kMaxCycles, path + ".stall_cycles");
  }
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open device config '" + path + "'");
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return invalid_argument("error reading device config '" + path + "'");
  return contents.str();
}

}  // namespace

std::vector<std::string> device_config_search_path() {
  std::vector<std::string> dirs;
  auto add = [&dirs](std::string dir) {
    // Skip empty entries ("a::b", a trailing ':') and repeats; order is priority.
    if (dir.empty()) return;
    for (const auto& d : dirs)
      if (d == dir) return;
    dirs.push_back(std::move(dir));
  };
  if (const char* env = std::getenv("KILN_CONFIG_PATH")) {
    std::string_view rest(env);
    while (true) {
      const auto colon = rest.find(':');
      add(std::string(rest.substr(0, colon)));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  add(KILN_INSTALL_CONFIG_DIR);
  add(KILN_SOURCE_CONFIG_DIR);
  return dirs;
}

Result<std::string> resolve_device_config_path(std::string_view name_or_path) {
  if (name_or_path.empty()) return invalid_argument("empty device config name");
  const std::string name(name_or_path);
  const bool looks_like_path =
      name.find('/') != std::string::npos || ends_with(name, kConfigExtension);
  if (looks_like_path && file_exists(name)) return name;

  // Absolute paths are never searched for: the user meant exactly that file.
  if (fs::path(name).is_absolute()) {
    return not_found("device config file '" + name + "' does not exist");
  }

  // Bare names, and relative paths such as "validation/ws128_serial", are
  // looked up under each search directory.
  const std::string file = ends_with(name, kConfigExtension) ? name : name + std::string(kConfigExtension);
  const std::vector<std::string> dirs = device_config_search_path();
  for (const auto& dir : dirs) {
    const fs::path candidate = fs::path(dir) / file;
    if (file_exists(candidate)) return candidate.string();
  }

  std::string message = "device config '" + name + "' not found";
  if (looks_like_path) message += " (no such file)";
  message += "; searched " + join(dirs, ", ");
  const auto names = available_config_names(dirs);
  if (!names.empty()) message += "; available: " + join(names, ", ");
  message += " (set KILN_CONFIG_PATH or pass a path to a .textproto file)";
  return not_found(std::move(message));
}

Result<DeviceConfig> load_device_config(std::string_view name_or_path) {
  KILN_ASSIGN_OR_RETURN(const std::string path, resolve_device_config_path(name_or_path));
  KILN_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  return parse_device_config(text, path);
}

Result<DeviceConfig> parse_device_config(std::string_view text, std::string_view origin) {
  DeviceConfig config;
  OriginErrorCollector errors(origin);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  // Unknown fields stay errors (the parser's default): a misspelt field name
  // must not silently leave the real field at zero.
  if (!parser.ParseFromString(std::string(text), &config)) {
    if (errors.errors().empty()) {
      return invalid_argument(std::string(origin) + ": could not parse device config");
    }
    return invalid_argument(join(errors.errors(), "; "));
  }
  KILN_RETURN_IF_ERROR(validate_device_config(config, origin));
  return config;
}

Status validate_device_config(const DeviceConfig& c, std::string_view origin) {
  Validator v(origin);

  v.non_empty(c.name(), "name");
  v.non_empty(c.description(), "description");

  if (v.present(c.has_clocks(), "clocks")) v.positive(c.clocks().core_mhz(), "clocks.core_mhz");

  if (v.present(c.has_hbm(), "hbm")) check_memory(v, c.hbm(), "hbm");
  if (v.present(c.has_sram(), "sram")) check_memory(v, c.sram(), "sram");

  if (v.present(c.has_host_link(), "host_link")) {
    const auto& h = c.host_link();
    v.non_empty(h.kind(), "host_link.kind");
    v.positive(h.bandwidth_gb_per_s(), "host_link.bandwidth_gb_per_s");
    v.non_negative(h.latency_ns(), "host_link.latency_ns");
  }

  if (v.present(c.has_command_processor(), "command_processor")) {
    const auto& cp = c.command_processor();
    v.positive(uint64_t{cp.queues()}, "command_processor.queues");
    v.at_most(cp.queues(), kMaxQueues, "command_processor.queues");
    v.positive(uint64_t{cp.packet_cycles()}, "command_processor.packet_cycles");
    v.positive(cp.submit_latency_ns(), "command_processor.submit_latency_ns");
    v.positive(uint64_t{cp.fence_counters()}, "command_processor.fence_counters");
    v.positive(cp.watchdog_us(), "command_processor.watchdog_us");
  }

  if (v.present(c.has_sync_manager(), "sync_manager")) {
    const auto& sm = c.sync_manager();
    v.positive(uint64_t{sm.sync_objects()}, "sync_manager.sync_objects");
    v.positive(uint64_t{sm.monitors()}, "sync_manager.monitors");
    v.positive(sm.message_latency_ns(), "sync_manager.message_latency_ns");
    if (c.has_command_processor() && sm.sync_objects() <= c.command_processor().queues()) {
      v.fail("sync_manager.sync_objects", "must be larger than command_processor.queues (" +
                                              show(uint64_t{c.command_processor().queues()}) +
                                              "): the first of them are the queues' retirement counters");
    }
  }

  if (v.present(c.has_dma(), "dma")) {
    v.positive(uint64_t{c.dma().engines()}, "dma.engines");
    v.positive(c.dma().setup_latency_ns(), "dma.setup_latency_ns");
  }

  if (v.present(c.has_mmu(), "mmu")) {
    v.positive(uint64_t{c.mmu().page_size_kib()}, "mmu.page_size_kib");
    v.power_of_two(c.mmu().page_size_kib(), "mmu.page_size_kib");
    v.positive(uint64_t{c.mmu().contexts()}, "mmu.contexts");
    // A memory must hold more than one page, or nothing can be allocated in it
    // beside a single mapping. Compared in KiB; capacity_mib * 1024 cannot
    // overflow for any memory that exists.
    const uint64_t page_kib = c.mmu().page_size_kib();
    for (const auto& [has, mem, path] :
         {std::tuple{c.has_hbm(), &c.hbm(), "hbm.capacity_mib"},
          std::tuple{c.has_sram(), &c.sram(), "sram.capacity_mib"}}) {
      if (has && page_kib != 0 && mem->capacity_mib() != 0 && mem->capacity_mib() * 1024 <= page_kib) {
        v.fail(path, "must be larger than mmu.page_size_kib (" + show(mem->capacity_mib()) +
                         " MiB <= " + show(page_kib) + " KiB)");
      }
    }
  }

  if (v.present(c.has_mme(), "mme")) {
    const auto& m = c.mme();
    v.positive(uint64_t{m.count()}, "mme.count");
    v.positive(uint64_t{m.array_rows()}, "mme.array_rows");
    v.positive(uint64_t{m.array_cols()}, "mme.array_cols");
    v.positive(m.clock_mhz(), "mme.clock_mhz");
    v.positive(uint64_t{m.fill_rows_per_cycle()}, "mme.fill_rows_per_cycle");
    if (m.fill_rows_per_cycle() > m.array_rows()) {
      v.fail("mme.fill_rows_per_cycle", "is larger than mme.array_rows (" + std::to_string(m.array_rows()) + ")");
    }
    v.positive(m.fp16_macs_per_cell_per_cycle(), "mme.fp16_macs_per_cell_per_cycle");
    v.positive(m.tf32_macs_per_cell_per_cycle(), "mme.tf32_macs_per_cell_per_cycle");
    v.positive(m.fp32_macs_per_cell_per_cycle(), "mme.fp32_macs_per_cell_per_cycle");
    // proto3 enums are open: a number the schema does not name parses too.
    if (m.dataflow() == proto::DATAFLOW_UNSPECIFIED || !proto::Dataflow_IsValid(m.dataflow())) {
      v.fail("mme.dataflow", "must be WEIGHT_STATIONARY_SERIAL or WEIGHT_STATIONARY_PIPELINED (got " +
                                 show(uint64_t(m.dataflow())) + ")");
    }
  }

  if (v.present(c.has_tpc(), "tpc")) {
    const auto& t = c.tpc();
    v.positive(uint64_t{t.count()}, "tpc.count");
    v.positive(uint64_t{t.vector_width_bytes()}, "tpc.vector_width_bytes");
    if (t.vector_width_bytes() % 4 != 0) {
      v.fail("tpc.vector_width_bytes",
             "must be a multiple of 4 (got " + show(uint64_t{t.vector_width_bytes()}) + ")");
    } else {
      v.power_of_two(t.vector_width_bytes(), "tpc.vector_width_bytes");
    }
    v.positive(t.clock_mhz(), "tpc.clock_mhz");
    v.positive(t.launch_overhead_ns(), "tpc.launch_overhead_ns");
    v.positive(uint64_t{t.local_memory_kib()}, "tpc.local_memory_kib");
    if (v.present(t.has_instruction_costs(), "tpc.instruction_costs")) {
      check_instruction_costs(v, t.instruction_costs());
    }
  }

  if (v.present(c.has_host(), "host")) {
    const auto& h = c.host();
    v.positive(h.submit_ns(), "host.submit_ns");
    v.non_negative(h.packet_record_ns(), "host.packet_record_ns");
    v.non_negative(h.event_record_ns(), "host.event_record_ns");
    v.non_negative(h.event_wait_ns(), "host.event_wait_ns");
    v.non_negative(h.wake_ns(), "host.wake_ns");
    v.non_negative(h.query_ns(), "host.query_ns");
    v.non_negative(h.allocate_ns(), "host.allocate_ns");
    v.non_negative(h.free_ns(), "host.free_ns");
    v.non_negative(h.copy_setup_ns(), "host.copy_setup_ns");
    v.non_negative(h.op_dispatch_ns(), "host.op_dispatch_ns");
    v.non_negative(h.op_record_ns(), "host.op_record_ns");
    v.non_negative(h.compile_per_node_ns(), "host.compile_per_node_ns");
    v.non_negative(h.cache_lookup_ns(), "host.cache_lookup_ns");
    v.non_negative(h.recipe_launch_ns(), "host.recipe_launch_ns");
  }

  return v.status();
}

double peak_matrix_flops(const DeviceConfig& c) {
  const auto& m = c.mme();
  // One multiply-accumulate (2 FLOPs) per array cell per cycle.
  return double(m.count()) * m.array_rows() * m.array_cols() * 2.0 * m.clock_mhz() * 1e6;
}

double mme_macs_per_cell_per_cycle(const proto::MmeConfig& m, DType a, DType b, bool tf32) {
  const auto rate = [&](DType t) {
    switch (t) {
      case DType::kBF16: return 1.0;  // the array's nominal rate (device_config.proto)
      case DType::kF16: return m.fp16_macs_per_cell_per_cycle();
      case DType::kF32: return tf32 ? m.tf32_macs_per_cell_per_cycle() : m.fp32_macs_per_cell_per_cycle();
      case DType::kI32:
      case DType::kI64:
      case DType::kBool: break;
    }
    return 0.0;
  };
  return std::min(rate(a), rate(b));
}

double peak_matrix_flops(const DeviceConfig& c, DType a, DType b, bool tf32) {
  return peak_matrix_flops(c) * mme_macs_per_cell_per_cycle(c.mme(), a, b, tf32);
}

double peak_vector_flops(const DeviceConfig& c) {
  const auto& t = c.tpc();
  // bf16 lanes (2 bytes each), one fused multiply-add (2 FLOPs) per lane per cycle.
  const double lanes = t.vector_width_bytes() / 2.0;
  return double(t.count()) * lanes * 2.0 * t.clock_mhz() * 1e6;
}

}  // namespace kiln
