// Trace files: the protobuf trace (kiln.proto.Trace) and its Chrome trace JSON
// export, which opens in ui.perfetto.dev and chrome://tracing.
//
// Free functions, thread-safe. Errors name the file and what was wrong.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/proto/trace.pb.h"
#include "kiln/traces/recorder.h"

namespace kiln::traces {

proto::Trace to_proto(std::string_view device_name, const std::vector<TraceEvent>& events);
std::vector<TraceEvent> from_proto(const proto::Trace& trace);

// Track order used by every report: digit runs compare as numbers
// ("DMA2" < "DMA10"), everything else bytewise; total and deterministic.
bool natural_less(std::string_view a, std::string_view b);

// Binary protobuf.
Status write_trace_file(const std::string& path, const proto::Trace& trace);
Result<proto::Trace> read_trace_file(const std::string& path);

// Chrome trace JSON: one process for the device and one for the host, one
// thread (track) per engine, complete ("X") events in microseconds.
std::string to_chrome_json(const proto::Trace& trace);
Status write_chrome_json(const std::string& path, const proto::Trace& trace);

}  // namespace kiln::traces
