// The bytes of an on-disk recipe cache file, and every check a recipe read
// from one passes before it runs (recipe_store.h describes the format).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>

#include "kiln/common/packets.h"
#include "kiln/driver/command_buffer_io.h"
#include "constant_fold.h"
#include "kiln/proto/recipe.pb.h"
#include "lowering.h"
#include "memory_plan.h"
#include "recipe_store.h"

namespace kiln::runtime {

namespace {

using packets::Opcode;

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'R', 'C', 'P', 'E'};
constexpr uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderBytes = 40;

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// MurmurHash64A (Austin Appleby, public domain): unrelated to FNV-1a, so the
// two together make a 128-bit name and a checksum no single flaw defeats.
uint64_t murmur64a(std::string_view s) {
  constexpr uint64_t m = 0xc6a4a7935bd1e995ull;
  constexpr int r = 47;
  uint64_t h = 0x5eed5eed5eed5eedull ^ (s.size() * m);
  const std::size_t blocks = s.size() / 8;
  for (std::size_t i = 0; i < blocks; ++i) {
    uint64_t k = 0;
    std::memcpy(&k, s.data() + 8 * i, 8);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const auto* tail = reinterpret_cast<const unsigned char*>(s.data() + 8 * blocks);
  const std::size_t rest = s.size() & 7;
  if (rest) {
    for (std::size_t i = rest; i-- > 0;) h ^= static_cast<uint64_t>(tail[i]) << (8 * i);
    h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

void put64(std::string& out, std::size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
}
void put32(std::string& out, std::size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
}
uint64_t get(std::string_view in, std::size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)])) << (8 * i);
  return v;
}

// What the compiler emits on queue `q` (compiler.cpp): engine jobs that each
// signal q's timeline, and waits for other queues' jobs of the same launch.
// `section`: the constant section's program, which binds no tensors and
// has a workspace of its own size.
Status check_program(const Recipe& r, uint32_t q, bool section) {
  const driver::CommandBuffer& cb = section ? r.constant_programs[q] : r.programs[q];
  const std::array<uint32_t, kQueueCount>& signals = section ? r.constant_signals : r.signals;
  const uint64_t workspace = section ? r.constant_workspace_bytes : r.workspace_bytes;
  const auto bytes = cb.bytes();
  std::string queue = section ? "the constant section's queue " : "queue ";
  queue += std::to_string(q);
  uint32_t jobs = 0;
  // The driver restored these bytes, so every packet is whole and sized.
  for (std::size_t offset = 0; offset < bytes.size();) {
    const auto h = packets::decode_packet<packets::PacketHeader>(bytes.data() + offset);
    const auto op = static_cast<Opcode>(h.opcode);
    const std::string where = queue + ": the packet at offset " + std::to_string(offset) + " (" +
                              std::string(packets::opcode_name(op)) + ")";
    if (packets::is_engine_job(op)) {
      if (!(h.flags & packets::kSignalOnCompletion) || h.completion_signal != driver::bound_sync(kTimelineSlot + q)) {
        return invalid_argument(where + " does not signal its queue's timeline");
      }
      ++jobs;
    } else if (op == Opcode::WAIT_SYNC) {
      const auto w = packets::decode_packet<packets::WaitSyncPacket>(bytes.data() + offset);
      const uint32_t slot = packets::sync_ref_index(w.sync);
      if (slot < kTimelineSlot || slot >= kTimelineSlot + kQueueCount || slot == kTimelineSlot + q) {
        return invalid_argument(where + " waits on binding slot " + std::to_string(slot) +
                                ", not another queue's timeline");
      }
      if (w.value > signals[slot - kTimelineSlot]) {
        return invalid_argument(where + " waits for job " + std::to_string(w.value) + " of a queue that runs " +
                                std::to_string(signals[slot - kTimelineSlot]));
      }
    } else {
      return invalid_argument(where + " is not a packet the compiler emits");
    }
    offset += packets::packet_size(op);
  }
  if (jobs != signals[q]) {
    return invalid_argument(queue + " runs " + std::to_string(jobs) + " jobs, but the recipe says " +
                            std::to_string(signals[q]));
  }
  const std::size_t tensors = r.inputs.size() + r.outputs.size();
  for (const driver::BindingUse& u : cb.binding_uses()) {
    const std::string slot = queue + ": binding slot " + std::to_string(u.slot);
    const bool memory = u.kind == packets::Binding::Kind::kMemory;
    if (u.slot == packets::kArenaSlot) continue;
    if (u.slot == kWorkspaceSlot) {
      if (!memory || u.extent > workspace) {
        return invalid_argument(slot + " (the workspace): reaches " + std::to_string(u.extent) + " bytes of " +
                                std::to_string(workspace));
      }
    } else if (u.slot == kSramSlot) {
      if (!memory || u.extent > r.sram_bytes || section) {
        return invalid_argument(slot + " (the SRAM scratch): reaches " + std::to_string(u.extent) + " bytes of " +
                                std::to_string(section ? 0 : r.sram_bytes));
      }
    } else if (u.slot == kConstantSlot) {
      if (!memory || u.extent > r.constant_bytes) {
        return invalid_argument(slot + " (the constants): reaches " + std::to_string(u.extent) + " bytes of " +
                                std::to_string(r.constant_bytes));
      }
    } else if (u.slot < kFirstTensorSlot) {
      if (memory || (u.signalled && u.slot != kTimelineSlot + q)) {
        return invalid_argument(slot + " (a timeline) is not used as this queue's timeline");
      }
    } else if (section) {
      return invalid_argument(slot + " is a tensor's: the constant section reads no input and writes no output");
    } else if (!memory || u.slot - kFirstTensorSlot >= tensors) {
      return invalid_argument(slot + " is not one of the recipe's " + std::to_string(tensors) + " tensors");
    }
  }
  return {};
}

}  // namespace

std::string recipe_file_name(std::string_view key) {
  char name[48];
  std::snprintf(name, sizeof name, "%016llx%016llx.recipe", static_cast<unsigned long long>(fnv1a64(key)),
                static_cast<unsigned long long>(murmur64a(key)));
  return name;
}

Result<std::string> encode_recipe_file(std::string_view key, const Recipe& recipe) {
  proto::RecipeFile file;
  file.set_key(key.data(), key.size());
  proto::Recipe& r = *file.mutable_recipe();
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    Result<std::string> program = driver::save_command_buffer(recipe.programs[q]);
    if (!program.ok()) return program.status().with_context("queue " + std::to_string(q));
    r.add_programs(std::move(program).value());
    r.add_signals(recipe.signals[q]);
  }
  r.set_workspace_bytes(recipe.workspace_bytes);
  r.set_sram_bytes(recipe.sram_bytes);
  r.set_intermediate_bytes(recipe.intermediate_bytes);
  for (int v : recipe.inputs) r.add_inputs(v);
  for (const auto& parts : recipe.packed_from) {
    proto::PackedInput& p = *r.add_packed_from();
    for (int v : parts) p.add_values(v);
  }
  for (int v : recipe.outputs) r.add_outputs(v);
  for (Queue q : recipe.output_queue) r.add_output_queue(q);
  r.set_nodes(recipe.nodes);
  r.set_jobs(recipe.jobs);
  r.set_log(recipe.log);
  for (const std::string& label : recipe.source_labels) r.add_source_labels(label);
  if (recipe.has_constants()) {
    for (uint32_t q = 0; q < kQueueCount; ++q) {
      Result<std::string> program = driver::save_command_buffer(recipe.constant_programs[q]);
      if (!program.ok()) return program.status().with_context("the constant section's queue " + std::to_string(q));
      r.add_constant_programs(std::move(program).value());
      r.add_constant_signals(recipe.constant_signals[q]);
    }
    r.set_constant_bytes(recipe.constant_bytes);
    r.set_constant_workspace_bytes(recipe.constant_workspace_bytes);
    r.set_constant_nodes(recipe.constant_nodes);
    r.set_constant_jobs(recipe.constant_jobs);
  }
  std::string payload;
  if (!file.SerializeToString(&payload)) return internal_error("serializing a recipe failed");
  return frame_recipe_file(payload);
}

std::string frame_recipe_file(std::string_view payload) {
  std::string out(kHeaderBytes, '\0');
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  put32(out, 8, kFormatVersion);
  put32(out, 12, kHeaderBytes);
  put64(out, 16, payload.size());
  put64(out, 24, fnv1a64(payload));
  put64(out, 32, murmur64a(payload));
  out += payload;
  return out;
}

Result<std::shared_ptr<Recipe>> decode_recipe_file(std::string_view bytes, std::string_view key) {
  if (bytes.size() < kHeaderBytes) {
    return invalid_argument("truncated: " + std::to_string(bytes.size()) + " bytes, a header needs " +
                            std::to_string(kHeaderBytes));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return invalid_argument("not a recipe cache file (wrong magic)");
  if (get(bytes, 8, 4) != kFormatVersion) {
    return invalid_argument("format version " + std::to_string(get(bytes, 8, 4)) + "; this runtime reads " +
                            std::to_string(kFormatVersion));
  }
  if (get(bytes, 12, 4) != kHeaderBytes) return invalid_argument("header size " + std::to_string(get(bytes, 12, 4)));
  const std::string_view payload = bytes.substr(kHeaderBytes);
  if (get(bytes, 16, 8) != payload.size()) {
    return invalid_argument("torn: the header says " + std::to_string(get(bytes, 16, 8)) +
                            " payload bytes, the file holds " + std::to_string(payload.size()));
  }
  if (get(bytes, 24, 8) != fnv1a64(payload) || get(bytes, 32, 8) != murmur64a(payload)) {
    return invalid_argument("corrupted: the payload does not match its checksums");
  }
  proto::RecipeFile file;
  if (payload.size() > INT32_MAX || !file.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return invalid_argument("the payload does not parse as a recipe");
  }
  if (file.key() != key) return invalid_argument("foreign: it holds the recipe of another cache key");
  const proto::Recipe& r = file.recipe();
  if (r.programs_size() != kQueueCount || r.signals_size() != kQueueCount) {
    return invalid_argument("it has " + std::to_string(r.programs_size()) + " programs and " +
                            std::to_string(r.signals_size()) + " signal counts, not one per queue (" +
                            std::to_string(kQueueCount) + ")");
  }
  if (r.output_queue_size() != r.outputs_size()) return invalid_argument("an output has no queue");
  auto recipe = std::make_shared<Recipe>();
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    Result<driver::CommandBuffer> program = driver::restore_command_buffer(r.programs(static_cast<int>(q)));
    if (!program.ok()) return program.status().with_context("queue " + std::to_string(q));
    recipe->programs[q] = std::move(program).value();
    recipe->signals[q] = r.signals(static_cast<int>(q));
  }
  recipe->workspace_bytes = r.workspace_bytes();
  recipe->sram_bytes = r.sram_bytes();
  recipe->intermediate_bytes = r.intermediate_bytes();
  recipe->inputs.assign(r.inputs().begin(), r.inputs().end());
  if (r.packed_from_size() != 0 && r.packed_from_size() != r.inputs_size()) {
    return invalid_argument("it packs " + std::to_string(r.packed_from_size()) + " of " +
                            std::to_string(r.inputs_size()) + " inputs");
  }
  recipe->packed_from.resize(recipe->inputs.size());
  for (int i = 0; i < r.packed_from_size(); ++i) {
    recipe->packed_from[static_cast<std::size_t>(i)].assign(r.packed_from(i).values().begin(),
                                                            r.packed_from(i).values().end());
  }
  recipe->outputs.assign(r.outputs().begin(), r.outputs().end());
  for (uint32_t q : r.output_queue()) {
    if (q >= kQueueCount) return invalid_argument("an output is written on queue " + std::to_string(q));
    recipe->output_queue.push_back(static_cast<Queue>(q));
  }
  recipe->nodes = r.nodes();
  recipe->jobs = r.jobs();
  recipe->log = r.log();
  recipe->source_labels.assign(r.source_labels().begin(), r.source_labels().end());
  // A constant section and its constants come together: the runtime runs the
  // section of a recipe with constants, and binds them for every launch.
  const bool section = r.constant_programs_size() != 0;
  if (section && (r.constant_programs_size() != kQueueCount || r.constant_signals_size() != kQueueCount)) {
    return invalid_argument("its constant section has " + std::to_string(r.constant_programs_size()) +
                            " programs and " + std::to_string(r.constant_signals_size()) +
                            " signal counts, not one per queue (" + std::to_string(kQueueCount) + ")");
  }
  if (section != (r.constant_bytes() != 0) || (!section && r.constant_signals_size() != 0)) {
    return invalid_argument(section ? "it has a constant section but no constants"
                                    : "it has constants but no constant section to write them");
  }
  if (r.constant_bytes() > kMaxConstantBytes) {
    return invalid_argument("its constants take " + std::to_string(r.constant_bytes()) +
                            " bytes, more than a recipe keeps (" + std::to_string(kMaxConstantBytes) + ")");
  }
  if (section) {
    for (uint32_t q = 0; q < kQueueCount; ++q) {
      Result<driver::CommandBuffer> program =
          driver::restore_command_buffer(r.constant_programs(static_cast<int>(q)));
      if (!program.ok()) return program.status().with_context("the constant section's queue " + std::to_string(q));
      recipe->constant_programs[q] = std::move(program).value();
      recipe->constant_signals[q] = r.constant_signals(static_cast<int>(q));
    }
    recipe->constant_bytes = r.constant_bytes();
    recipe->constant_workspace_bytes = r.constant_workspace_bytes();
    recipe->constant_nodes = r.constant_nodes();
    recipe->constant_jobs = r.constant_jobs();
  }
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    KILN_RETURN_IF_ERROR(check_program(*recipe, q, false));
    if (section) KILN_RETURN_IF_ERROR(check_program(*recipe, q, true));
  }
  return recipe;
}

Status check_recipe_fits(const Recipe& recipe, const Graph& g, const std::vector<int>& outputs) {
  if (recipe.outputs != outputs) return invalid_argument("it keeps other values than the graph");
  if (recipe.nodes > g.nodes.size()) {
    return invalid_argument("it compiled " + std::to_string(recipe.nodes) + " nodes of a graph of " +
                            std::to_string(g.nodes.size()));
  }
  const auto external = [&](int v) {
    return v >= 0 && static_cast<std::size_t>(v) < g.values.size() && g.values[static_cast<std::size_t>(v)].producer < 0 &&
           g.values[static_cast<std::size_t>(v)].external;
  };
  std::set<int> seen;
  std::vector<uint64_t> input_bytes;
  for (std::size_t i = 0; i < recipe.inputs.size(); ++i) {
    const int v = recipe.inputs[i];
    const std::vector<int>& parts = recipe.packed_from[i];
    if (v == -1 && parts.size() >= 2) {
      // Stacked along dim 0: parts agree in dtype and in every other dim.
      if (!std::all_of(parts.begin(), parts.end(), external)) {
        return invalid_argument("packed input " + std::to_string(i) + " has a part that is not an external input");
      }
      const Value& first = g.values[static_cast<std::size_t>(parts[0])];
      uint64_t bytes = 0;
      for (int p : parts) {
        const Value& part = g.values[static_cast<std::size_t>(p)];
        if (part.dtype != first.dtype || part.shape.size() != first.shape.size() || part.shape.empty() ||
            !std::equal(part.shape.begin() + 1, part.shape.end(), first.shape.begin() + 1)) {
          return invalid_argument("packed input " + std::to_string(i) + " stacks parts of different shapes or dtypes");
        }
        bytes += part.bytes();
      }
      input_bytes.push_back(bytes);
      continue;
    }
    if (!parts.empty() || !external(v) || !seen.insert(v).second) {
      return invalid_argument("its input value " + std::to_string(v) + " is not a distinct external input of the graph");
    }
    input_bytes.push_back(g.values[static_cast<std::size_t>(v)].bytes());
  }
  uint64_t produced = 0;
  for (const Value& v : g.values) {
    // Each placed at the workspace's alignment; a fused value is no larger
    // than the values it replaces together.
    if (v.producer >= 0) produced += workspace_aligned(v.bytes());
  }
  if (recipe.workspace_bytes > produced) {
    return invalid_argument("its workspace of " + std::to_string(recipe.workspace_bytes) +
                            " bytes exceeds every value the graph produces (" + std::to_string(produced) + ")");
  }
  // Only fused attention uses SRAM scratch.
  const bool attention = std::any_of(g.nodes.begin(), g.nodes.end(), [](const Node& n) { return n.op == OpKind::kFusedSdpa; });
  if (recipe.sram_bytes > 0 && !attention) {
    return invalid_argument("it asks for " + std::to_string(recipe.sram_bytes) + " bytes of SRAM scratch, but its graph has no fused attention");
  }
  // Folded values and the section's intermediates are values of the graph too.
  if (recipe.constant_bytes > produced || recipe.constant_workspace_bytes > produced) {
    return invalid_argument("its constant section's " + std::to_string(recipe.constant_bytes) + " bytes of constants and " +
                            std::to_string(recipe.constant_workspace_bytes) +
                            " bytes of workspace exceed every value the graph produces (" + std::to_string(produced) + ")");
  }
  if (recipe.constant_nodes > g.nodes.size()) {
    return invalid_argument("its constant section compiled " + std::to_string(recipe.constant_nodes) +
                            " nodes of a graph of " + std::to_string(g.nodes.size()));
  }
  // Each tensor slot's extent within the tensor the launch binds there.
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    for (const driver::BindingUse& u : recipe.programs[q].binding_uses()) {
      if (u.slot < kFirstTensorSlot || u.slot == packets::kArenaSlot) continue;
      const std::size_t i = u.slot - kFirstTensorSlot;  // < inputs + outputs (decode_recipe_file)
      const uint64_t bytes = i < recipe.inputs.size()
                                 ? input_bytes[i]
                                 : g.values[static_cast<std::size_t>(recipe.outputs[i - recipe.inputs.size()])].bytes();
      if (u.extent > bytes) {
        return invalid_argument("queue " + std::to_string(q) + " reaches " + std::to_string(u.extent) +
                                " bytes of tensor slot " + std::to_string(i) + ", which has " + std::to_string(bytes));
      }
    }
  }
  return {};
}

}  // namespace kiln::runtime
