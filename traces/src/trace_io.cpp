// Protobuf trace files: conversion between the recorder's TraceEvent and
// kiln.proto.Trace, and binary file reading / writing.
#include "kiln/traces/trace_io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace kiln::traces {
namespace {

proto::TraceClock clock_to_proto(TraceClock clock) {
  switch (clock) {
    case TraceClock::kDeviceSimulated: return proto::DEVICE_SIMULATED;
    case TraceClock::kHostWall: return proto::HOST_WALL;
    case TraceClock::kHostSimulated: return proto::HOST_SIMULATED;
  }
  return proto::TRACE_CLOCK_UNSPECIFIED;
}

// UNSPECIFIED (and any value from a newer schema) reads as device time: the
// device is the default producer of events, the host marks its own.
TraceClock clock_from_proto(proto::TraceClock clock) {
  if (clock == proto::HOST_WALL) return TraceClock::kHostWall;
  if (clock == proto::HOST_SIMULATED) return TraceClock::kHostSimulated;
  return TraceClock::kDeviceSimulated;
}

std::string errno_text(int err) { return std::strerror(err); }

// Protobuf's wire format is permissive: most short byte strings (a text file,
// a JSON file) parse "successfully" as a message made of unknown fields. Every
// field Kiln writes is known to this reader, so unknown fields mean the file is
// not a Kiln trace (or comes from a newer, incompatible schema).
Status check_no_unknown_fields(const std::string& path, const proto::Trace& trace) {
  auto describe = [&](const google::protobuf::UnknownFieldSet& fields, const std::string& where) {
    return invalid_argument("'" + path + "' is not a Kiln trace: unknown protobuf field " +
                            std::to_string(fields.field(0).number()) + " in " + where);
  };
  const auto* reflection = trace.GetReflection();
  if (const auto& unknown = reflection->GetUnknownFields(trace); !unknown.empty()) {
    return describe(unknown, "the Trace message");
  }
  for (int i = 0; i < trace.events_size(); ++i) {
    const proto::TraceEvent& event = trace.events(i);
    if (const auto& unknown = event.GetReflection()->GetUnknownFields(event); !unknown.empty()) {
      return describe(unknown, "event " + std::to_string(i));
    }
  }
  return Status::ok_status();
}

}  // namespace

proto::Trace to_proto(std::string_view device_name, const std::vector<TraceEvent>& events) {
  proto::Trace trace;
  trace.set_device(std::string(device_name));
  trace.mutable_events()->Reserve(static_cast<int>(events.size()));
  for (const TraceEvent& e : events) {
    proto::TraceEvent* p = trace.add_events();
    p->set_track(e.track);
    p->set_queue(e.queue);
    p->set_name(e.name);
    p->set_start_ps(e.start_ps);
    p->set_end_ps(e.end_ps);
    p->set_bytes(e.bytes);
    p->set_flops(e.flops);
    p->set_sequence(e.sequence);
    p->set_clock(clock_to_proto(e.clock));
    p->set_detail(e.detail);
    p->set_id(e.id);
    for (const std::string& op : e.ops) p->add_ops(op);
    p->mutable_waits_for()->Add(e.waits_for.begin(), e.waits_for.end());
    p->set_job(e.job);
    p->set_hbm_bytes(e.hbm_bytes);
  }
  return trace;
}

std::vector<TraceEvent> from_proto(const proto::Trace& trace) {
  std::vector<TraceEvent> events;
  events.reserve(static_cast<std::size_t>(trace.events_size()));
  for (const proto::TraceEvent& p : trace.events()) {
    TraceEvent e;
    e.track = p.track();
    e.queue = p.queue();
    e.name = p.name();
    e.start_ps = p.start_ps();
    e.end_ps = p.end_ps();
    e.bytes = p.bytes();
    e.flops = p.flops();
    e.sequence = p.sequence();
    e.clock = clock_from_proto(p.clock());
    e.detail = p.detail();
    e.id = p.id();
    e.ops.assign(p.ops().begin(), p.ops().end());
    e.waits_for.assign(p.waits_for().begin(), p.waits_for().end());
    e.job = p.job();
    e.hbm_bytes = p.hbm_bytes();
    events.push_back(std::move(e));
  }
  return events;
}

Status write_trace_file(const std::string& path, const proto::Trace& trace) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return invalid_argument("cannot open trace file '" + path + "' for writing: " +
                            errno_text(errno));
  }
  if (!trace.SerializeToOstream(&out)) {
    return internal_error("cannot serialise trace to '" + path + "': " + errno_text(errno));
  }
  // Buffered bytes reach the disk only on close; a full disk shows up here.
  out.close();
  if (out.fail()) {
    return internal_error("cannot write trace file '" + path + "': " + errno_text(errno));
  }
  return Status::ok_status();
}

Result<proto::Trace> read_trace_file(const std::string& path) {
  std::error_code ec;
  // std::ifstream "opens" a directory and only fails on read; say what it is.
  if (std::filesystem::is_directory(path, ec)) {
    return invalid_argument("cannot read trace file '" + path + "': it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    std::string message = "cannot open trace file '" + path + "': " + errno_text(err);
    if (err == ENOENT) return not_found(std::move(message));
    return invalid_argument(std::move(message));
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return invalid_argument("cannot read trace file '" + path + "': " + errno_text(errno));
  }
  proto::Trace trace;
  if (!trace.ParseFromString(bytes)) {
    return invalid_argument("'" + path + "' is not a Kiln trace: protobuf parse failed (" +
                            std::to_string(bytes.size()) + " bytes)");
  }
  KILN_RETURN_IF_ERROR(check_no_unknown_fields(path, trace));
  return trace;
}

}  // namespace kiln::traces
