// Saving and restoring recordings (kiln/driver/command_buffer_io.h): the one
// place that knows the saved format, and the checks a restored recording
// passes before it is a CommandBuffer.
#include "kiln/driver/command_buffer_io.h"

#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>

#include "kiln/common/format.h"
#include "kiln/kernels/kernel_arg_block.h"
#include "kiln/proto/command_buffer.pb.h"

namespace kiln::driver {

using packets::Opcode;

namespace {

// Structure only (sizes, opcodes, reserved bits, flags, alignment): the
// device's counts are checked when the buffer is submitted to a device. With
// no queues, no sync object counts as a retirement counter here.
constexpr packets::PacketLimits kStructureOnly{UINT32_MAX, UINT32_MAX, 0, UINT32_MAX};

std::string packet_at(std::size_t offset, Opcode op) {
  char where[48];
  std::snprintf(where, sizeof where, "packet at offset 0x%zx", offset);
  std::string s = where;
  if (op != Opcode::INVALID && packets::packet_size(op) != 0) s += " (" + std::string(packets::opcode_name(op)) + ")";
  return s;
}

// Why `address` may not be in a restored buffer, if it may not: it must be a
// binding, and name the arena only where the arena is what is read.
std::optional<std::string> address_problem(uint64_t address, const char* what, bool arena_allowed) {
  if (!packets::is_bound_address(address)) {
    return std::string(what) + " " + hex(address) +
           " is not a binding (a restored buffer addresses memory only through the slots a submission binds)";
  }
  if (!arena_allowed && packets::binding_slot(address) == packets::kArenaSlot) {
    return std::string(what) + " names the arena slot, which only a launch's descriptor or argument block may";
  }
  return std::nullopt;
}

std::optional<std::string> sync_problem(packets::SyncRef ref, const char* what) {
  if (!packets::is_bound(ref)) {
    return std::string(what) + " is sync object " + std::to_string(ref) +
           ", not a binding (a restored buffer names sync objects only through its bindings)";
  }
  if (packets::sync_ref_index(ref) >= packets::kArenaSlot) {
    return std::string(what) + " names binding slot " + std::to_string(packets::sync_ref_index(ref)) +
           "; slots are 0.." + std::to_string(packets::kArenaSlot - 1);
  }
  return std::nullopt;
}

// Why a launch's `need`-byte block at `address` is not inside the arena, if it is not.
std::optional<std::string> arena_block_problem(uint64_t address, std::size_t need, std::size_t arena_size,
                                               const char* what) {
  if (!packets::is_bound_address(address) || packets::binding_slot(address) != packets::kArenaSlot) {
    return std::string(what) + " " + hex(address) + " is not in the buffer's arena";
  }
  const uint64_t offset = packets::binding_offset(address);
  if (offset > arena_size || need > arena_size - offset) {
    return std::string(what) + ": " + std::to_string(need) + " bytes at arena offset " + std::to_string(offset) +
           " run past the arena's " + std::to_string(arena_size) + " bytes";
  }
  return std::nullopt;
}

}  // namespace

Result<CommandBuffer> CommandBuffer::from_recording(std::vector<uint8_t> bytes, std::vector<uint8_t> arena,
                                                    std::span<const BindingUse> declared_uses) {
  CommandBuffer cb;
  Recording& rec = *cb.rec_;
  rec.bytes = std::move(bytes);
  rec.arena = std::move(arena);
  const auto& out = rec.bytes;
  std::size_t offset = 0;
  std::size_t last = SIZE_MAX;
  while (offset < out.size()) {
    std::size_t size = 0;
    const uint8_t* p = out.data() + offset;
    const Opcode op = static_cast<Opcode>(p[0]);
    const std::string where = packet_at(offset, op);
    if (op == Opcode::MONITOR_ARM) {
      return invalid_argument(where + ": a restored buffer may not arm monitors (a monitor names absolute sync "
                                      "objects, queues and monitors, which only mean something in the process that "
                                      "recorded it)");
    }
    if (auto problem = packets::check_packet(p, out.size() - offset, kStructureOnly, /*privileged=*/false, &size)) {
      return invalid_argument(where + ": " + problem->what);
    }
    std::optional<std::string> problem;
    // Each check, then the use it makes (as recording makes it).
    const auto memory = [&](uint64_t address, uint64_t bytes_touched, const char* what) {
      if (problem) return;
      problem = address_problem(address, what, /*arena_allowed=*/false);
      if (!problem) cb.use_address(address, bytes_touched);
    };
    const auto sync = [&](packets::SyncRef ref, bool signalled, const char* what) {
      if (problem) return;
      problem = sync_problem(ref, what);
      if (!problem) cb.use_sync(ref, signalled);
    };
    const auto header = packets::decode_packet<packets::PacketHeader>(p);
    if (header.flags & packets::kSignalOnCompletion) sync(header.completion_signal, true, "completion signal");
    switch (op) {
      case Opcode::NOP:
      case Opcode::FENCE:
      case Opcode::STOP:
        break;
      case Opcode::LIN_DMA: {
        const auto d = packets::decode_packet<packets::LinDmaPacket>(p);
        memory(d.dst_addr, d.size_bytes, "destination");
        if (!(d.dma_flags & packets::kDmaMemset)) memory(d.src_addr, d.size_bytes, "source");
        break;
      }
      case Opcode::MSG_SHORT:
        sync(packets::decode_packet<packets::MsgShortPacket>(p).sync_object, true, "sync object");
        break;
      case Opcode::MSG_LONG: {
        const auto m = packets::decode_packet<packets::MsgLongPacket>(p);
        memory(m.addr, m.width_bytes, "address");
        break;
      }
      case Opcode::WAIT_SYNC:
        sync(packets::decode_packet<packets::WaitSyncPacket>(p).sync, false, "sync object");
        break;
      case Opcode::LAUNCH_MME: {
        const auto l = packets::decode_packet<packets::LaunchMmePacket>(p);
        problem = arena_block_problem(l.descriptor_addr, sizeof(mme::Descriptor), rec.arena.size(), "descriptor");
        if (problem) break;
        mme::Descriptor d;
        std::memcpy(&d, rec.arena.data() + packets::binding_offset(l.descriptor_addr), sizeof d);
        mme::OperandSpans spans;
        if (!mme::operand_spans(d, &spans)) {
          problem = "the descriptor's operand spans overflow 64 bits";
          break;
        }
        memory(d.a_addr, spans.a, "MME operand A");
        memory(d.b_addr, spans.b, "MME operand B");
        memory(d.c_addr, spans.c, "MME operand C");
        if (d.flags & mme::kHasBias) memory(d.bias_addr, spans.bias, "MME bias");
        if (d.flags & mme::kHasResidual) memory(d.r_addr, spans.r, "MME operand R");
        if (!problem) cb.use_address(l.descriptor_addr, sizeof(mme::Descriptor));
        break;
      }
      case Opcode::LAUNCH_TPC: {
        const auto l = packets::decode_packet<packets::LaunchTpcPacket>(p);
        problem = arena_block_problem(l.args_addr, sizeof(kernels::KernelArgBlockHeader), rec.arena.size(),
                                      "argument block");
        if (problem) break;
        const auto block = std::span<const uint8_t>(rec.arena).subspan(packets::binding_offset(l.args_addr));
        Result<kernels::KernelArgs> args = kernels::decode_kernel_args(block);
        if (!args.ok()) {
          problem = args.status().message();
          break;
        }
        for (int i = 0; i < args->num_tensors && !problem; ++i) {
          const kernels::TensorDesc& t = args->tensors[static_cast<std::size_t>(i)];
          const std::string what = "kernel tensor " + std::to_string(i);
          problem = address_problem(t.address, what.c_str(), /*arena_allowed=*/false);
          if (problem) break;
          const kernels::TensorSpan span = kernels::tensor_span(t);
          if (span.before > packets::binding_offset(t.address)) {
            problem = what + " reaches before the start of binding slot " +
                      std::to_string(packets::binding_slot(t.address));
            break;
          }
          cb.use_address(t.address - span.before, span.bytes);
        }
        break;
      }
      default:
        problem = "a restored buffer may not hold " + std::string(packets::opcode_name(op)) + " packets";
        break;
    }
    if (problem) return invalid_argument(where + ": " + *problem);
    last = offset;
    ++rec.packets;
    offset += size;
  }
  for (const BindingUse& use : declared_uses) {
    const std::string slot = "declared binding slot " + std::to_string(use.slot);
    if (use.kind == packets::Binding::Kind::kEmpty) return invalid_argument(slot + " has no kind");
    if (use.slot > packets::kArenaSlot || (use.slot == packets::kArenaSlot && use.kind != packets::Binding::Kind::kMemory)) {
      return invalid_argument(slot + " is out of range: slots are 0.." + std::to_string(packets::kArenaSlot - 1));
    }
    cb.use(use.slot, use.kind, use.extent, use.signalled);
  }
  if (!rec.error.empty()) return invalid_argument(rec.error);
  cb.last_packet_ = last;
  return cb;
}

Result<std::string> save_command_buffer(const CommandBuffer& commands) {
  if (!commands.recording_error().empty()) {
    return failed_precondition("saving a command buffer: it recorded an error: " + commands.recording_error());
  }
  // What a restore would refuse is refused now, where the mistake is made.
  auto check = CommandBuffer::from_recording({commands.bytes().begin(), commands.bytes().end()},
                                             {commands.arena().begin(), commands.arena().end()},
                                             commands.binding_uses());
  if (!check.ok()) return check.status().with_context("saving a command buffer");
  proto::SavedCommandBuffer saved;
  saved.set_version(kSavedCommandBufferVersion);
  saved.set_packets(commands.bytes().data(), commands.bytes().size());
  saved.set_arena(commands.arena().data(), commands.arena().size());
  for (const BindingUse& use : commands.binding_uses()) {
    proto::SavedBindingUse* u = saved.add_uses();
    u->set_slot(use.slot);
    u->set_sync(use.kind == packets::Binding::Kind::kSync);
    u->set_extent(use.extent);
    u->set_signalled(use.signalled);
  }
  const traces::OpLabels& labels = commands.labels();
  for (const traces::OpLabels::Run& run : labels.runs) {
    proto::SavedLabelRun* r = saved.add_labels();
    r->set_offset(run.offset);
    if (run.label != traces::OpLabels::kNone) {
      for (const std::string& op : labels.labels[run.label]) r->add_ops(op);
    }
  }
  std::string out;
  if (!saved.SerializeToString(&out)) return internal_error("saving a command buffer: serialization failed");
  return out;
}

Result<CommandBuffer> restore_command_buffer(std::string_view saved) {
  constexpr std::string_view kContext = "restoring a command buffer";
  proto::SavedCommandBuffer msg;
  if (saved.size() > static_cast<std::size_t>(INT_MAX) ||
      !msg.ParseFromArray(saved.data(), static_cast<int>(saved.size()))) {
    return invalid_argument(std::string(kContext) + ": the " + std::to_string(saved.size()) +
                            " bytes are not a saved command buffer");
  }
  if (msg.version() != kSavedCommandBufferVersion) {
    return invalid_argument(std::string(kContext) + ": format version " + std::to_string(msg.version()) +
                            ", this driver reads " + std::to_string(kSavedCommandBufferVersion));
  }
  std::vector<BindingUse> declared;
  declared.reserve(static_cast<std::size_t>(msg.uses_size()));
  for (const proto::SavedBindingUse& u : msg.uses()) {
    declared.push_back({u.slot(), u.sync() ? packets::Binding::Kind::kSync : packets::Binding::Kind::kMemory,
                        u.sync() ? 0 : u.extent(), u.signalled()});
  }
  auto cb = CommandBuffer::from_recording({msg.packets().begin(), msg.packets().end()},
                                          {msg.arena().begin(), msg.arena().end()}, declared);
  if (!cb.ok()) return cb.status().with_context(kContext);
  for (const proto::SavedLabelRun& run : msg.labels()) {
    KILN_RETURN_IF_ERROR(cb->label_at(run.offset(), {run.ops().begin(), run.ops().end()}).with_context(kContext));
  }
  return cb;
}

}  // namespace kiln::driver
