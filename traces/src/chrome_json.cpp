// Chrome Trace Event Format export (JSON object form), for ui.perfetto.dev and
// chrome://tracing.
//
// Layout: process 1 is the simulated timeline (the device's engines and the
// host threads' calls on their simulated clocks), process 2 the host calls in
// wall time (a different clock, so it must not share a timeline); each track
// is one thread. Tracks get
// tids and sort indices in natural name order so DMA2 sorts before DMA10 and
// the same trace always produces the same bytes. Events keep trace order.
//
// Dependencies (waits_for) become flow events, which Perfetto draws as
// arrows: one flow per edge, numbered from 1 in trace order, its start
// ("ph":"s") bound to the event waited for (for a job, its event that ended
// last) and its end ("ph":"f", "bp":"e") to the waiting event. Each flow record sits right after its event's
// complete event, at that event's start time on the same thread, so it binds
// to that event and not to a neighbour that ends at the same instant (both
// Perfetto and Chrome bind a flow record to the slice around its timestamp on
// its thread). Perfetto keys a flow by id, category and name, so every flow
// record has the same category and name. Edges to events not in the trace,
// or across the two processes (different clocks), are left out.
//
// JSON is written by hand: no JSON library is a dependency, and the output is
// simple enough that correctness rests on string escaping and number format.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kiln/traces/trace_io.h"
#include "report_util.h"

namespace kiln::traces {
namespace {

constexpr int kDevicePid = 1;
constexpr int kHostPid = 2;

bool is_digit(char c) { return c >= '0' && c <= '9'; }


// The track kind used as the event category: the name without its trailing
// engine index ("DMA10" -> "DMA", "host" -> "host").
std::string track_kind(std::string_view track) {
  std::size_t end = track.size();
  while (end > 0 && is_digit(track[end - 1])) --end;
  if (end == 0) return track.empty() ? "unknown" : std::string(track);
  return std::string(track.substr(0, end));
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one.
// Invalid bytes would make the whole file unparseable, so they become U+FFFD.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

// Picoseconds as decimal microseconds, exact: integer part and six fraction
// digits printed separately, so no value is rounded through a double.
void append_us(std::string& out, uint64_t ps) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIu64 ".%06" PRIu64, ps / 1'000'000, ps % 1'000'000);
  out += buf;
}

void append_u64(std::string& out, uint64_t v) { out += std::to_string(v); }

int pid_of(const proto::TraceEvent& e) {
  return e.clock() == proto::HOST_WALL ? kHostPid : kDevicePid;
}

std::string track_label(const std::string& track) { return track.empty() ? "(unnamed)" : track; }

void append_metadata(std::string& out, std::string_view what, int pid, int tid,
                     std::string_view arg_key, const std::string& arg_value_json) {
  out += "{\"name\":";
  append_string(out, what);
  out += ",\"ph\":\"M\",\"pid\":" + std::to_string(pid);
  if (tid >= 0) out += ",\"tid\":" + std::to_string(tid);
  out += ",\"args\":{";
  append_string(out, arg_key);
  out += ':';
  out += arg_value_json;
  out += "}},\n";
}

std::string json_string(std::string_view s) {
  std::string out;
  append_string(out, s);
  return out;
}

void append_event(std::string& out, const proto::TraceEvent& e, int pid, int tid) {
  out += "{\"name\":";
  append_string(out, e.name());
  out += ",\"cat\":";
  append_string(out, track_kind(e.track()));
  out += ",\"ph\":\"X\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid);
  out += ",\"ts\":";
  append_us(out, e.start_ps());
  out += ",\"dur\":";
  // A malformed event ending before it starts is shown as instantaneous
  // rather than with a negative (wrapped) duration.
  append_us(out, e.end_ps() >= e.start_ps() ? e.end_ps() - e.start_ps() : 0);

  // Only fields that carry information; queue 0 is a real queue, -1 is none.
  std::string args;
  auto sep = [&] { if (!args.empty()) args += ','; };
  if (e.queue() >= 0) { sep(); args += "\"queue\":" + std::to_string(e.queue()); }
  if (e.bytes() != 0) { sep(); args += "\"bytes\":"; append_u64(args, e.bytes()); }
  if (e.flops() != 0) { sep(); args += "\"flops\":"; append_u64(args, e.flops()); }
  if (e.sequence() != 0) { sep(); args += "\"seq\":"; append_u64(args, e.sequence()); }
  if (!e.detail().empty()) { sep(); args += "\"detail\":"; append_string(args, e.detail()); }
  if (e.id() != 0) { sep(); args += "\"id\":"; append_u64(args, e.id()); }
  if (e.job() != 0) { sep(); args += "\"job\":"; append_u64(args, e.job()); }
  if (e.ops_size() > 0) {
    sep();
    args += "\"ops\":[";
    for (int i = 0; i < e.ops_size(); ++i) {
      if (i > 0) args += ',';
      append_string(args, e.ops(i));
    }
    args += ']';
  }
  if (e.waits_for_size() > 0) {
    sep();
    args += "\"waits_for\":[";
    for (int i = 0; i < e.waits_for_size(); ++i) {
      if (i > 0) args += ',';
      append_u64(args, e.waits_for(i));
    }
    args += ']';
  }
  if (!args.empty()) out += ",\"args\":{" + args + "}";
  out += "}";
}

// One end of a flow (an arrow in Perfetto), bound to the event `e` that was
// just written, at its start on its thread.
void append_flow(std::string& out, const proto::TraceEvent& e, int pid, int tid, bool start, uint64_t flow) {
  out += ",\n{\"name\":\"waits for\",\"cat\":\"dependency\",\"ph\":";
  out += start ? "\"s\"" : "\"f\",\"bp\":\"e\"";
  out += ",\"id\":";
  append_u64(out, flow);
  out += ",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) + ",\"ts\":";
  append_us(out, e.start_ps());
  out += '}';
}

// Flow ids per event: the flows that start at it (it was waited for) and
// those that end at it (it waited).
struct Flows {
  std::vector<std::vector<uint64_t>> out, in;
};

Flows flows_of(const proto::Trace& trace) {
  Flows f;
  // What a waits_for id names: an event, or a job, whose arrow starts at
  // its event that ended last (the first such in trace order).
  std::unordered_map<uint64_t, int> index_of;
  for (int i = 0; i < trace.events_size(); ++i) {
    if (trace.events(i).id() != 0) index_of.emplace(trace.events(i).id(), i);
  }
  for (int i = 0; i < trace.events_size(); ++i) {
    const proto::TraceEvent& e = trace.events(i);
    if (e.job() == 0 || e.job() == e.id()) continue;
    const auto [it, fresh] = index_of.emplace(e.job(), i);
    if (!fresh && trace.events(it->second).job() == e.job() && e.end_ps() > trace.events(it->second).end_ps()) {
      it->second = i;
    }
  }
  uint64_t next = 1;
  for (int i = 0; i < trace.events_size(); ++i) {
    const proto::TraceEvent& e = trace.events(i);
    for (uint64_t w : e.waits_for()) {
      auto it = index_of.find(w);
      if (it == index_of.end() || it->second == i || pid_of(trace.events(it->second)) != pid_of(e)) continue;
      if (f.out.empty()) {
        f.out.resize(static_cast<std::size_t>(trace.events_size()));
        f.in.resize(static_cast<std::size_t>(trace.events_size()));
      }
      f.out[static_cast<std::size_t>(it->second)].push_back(next);
      f.in[static_cast<std::size_t>(i)].push_back(next);
      ++next;
    }
  }
  return f;
}

}  // namespace

// Natural order: digit runs compare as numbers ("DMA2" < "DMA10"), everything
// else bytewise. Names equal under that order ("DMA01", "DMA1") fall back to
// plain comparison so the order is total and output deterministic.
bool natural_less(std::string_view a, std::string_view b) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      std::size_t i_end = i;
      std::size_t j_end = j;
      while (i_end < a.size() && is_digit(a[i_end])) ++i_end;
      while (j_end < b.size() && is_digit(b[j_end])) ++j_end;
      std::string_view da = a.substr(i, i_end - i);
      std::string_view db = b.substr(j, j_end - j);
      while (da.size() > 1 && da.front() == '0') da.remove_prefix(1);
      while (db.size() > 1 && db.front() == '0') db.remove_prefix(1);
      // Arbitrary-length digit runs: compare by length, then digits, never overflow.
      if (da.size() != db.size()) return da.size() < db.size();
      if (da != db) return da < db;
      i = i_end;
      j = j_end;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  if (i != a.size() || j != b.size()) return i == a.size();  // a prefix sorts first
  return a < b;
}

std::string to_chrome_json(const proto::Trace& trace) {
  // tid per (pid, track): collect names, sort naturally, number from 1.
  std::map<int, std::vector<std::string>> names_by_pid;
  {
    std::set<std::pair<int, std::string>> seen;
    for (const proto::TraceEvent& e : trace.events()) {
      if (seen.emplace(pid_of(e), e.track()).second) {
        names_by_pid[pid_of(e)].push_back(e.track());
      }
    }
  }
  std::map<std::pair<int, std::string>, int> tids;
  for (auto& [pid, names] : names_by_pid) {
    std::sort(names.begin(), names.end(),
              [](const std::string& a, const std::string& b) { return natural_less(a, b); });
    for (std::size_t k = 0; k < names.size(); ++k) {
      tids[{pid, names[k]}] = static_cast<int>(k) + 1;
    }
  }

  std::string out;
  out.reserve(256 + static_cast<std::size_t>(trace.events_size()) * 160);
  out += "{\"traceEvents\":[\n";
  const std::string device = trace.device().empty() ? "device" : trace.device();
  for (const auto& [pid, names] : names_by_pid) {
    const std::string process =
        pid == kDevicePid ? device + " (simulated)" : std::string("host (wall)");
    append_metadata(out, "process_name", pid, -1, "name", json_string(process));
    append_metadata(out, "process_sort_index", pid, -1, "sort_index", std::to_string(pid));
    for (std::size_t k = 0; k < names.size(); ++k) {
      const int tid = static_cast<int>(k) + 1;
      append_metadata(out, "thread_name", pid, tid, "name", json_string(track_label(names[k])));
      append_metadata(out, "thread_sort_index", pid, tid, "sort_index", std::to_string(tid));
    }
  }
  // Metadata records exist only if there are events, so every record but the
  // very last one is followed by a comma.
  const Flows flows = flows_of(trace);
  for (int i = 0; i < trace.events_size(); ++i) {
    const proto::TraceEvent& e = trace.events(i);
    const int pid = pid_of(e);
    const int tid = tids.at({pid, e.track()});
    append_event(out, e, pid, tid);
    if (!flows.out.empty()) {
      for (uint64_t f : flows.out[static_cast<std::size_t>(i)]) append_flow(out, e, pid, tid, true, f);
      for (uint64_t f : flows.in[static_cast<std::size_t>(i)]) append_flow(out, e, pid, tid, false, f);
    }
    if (i + 1 < trace.events_size()) out += ',';
    out += '\n';
  }
  out += "],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"producer\":\"kiln\",\"device\":";
  append_string(out, trace.device());
  out += ",\"device_clock\":\"simulated time since device open\"";
  out += ",\"host_clock\":\"wall time since device open\"";
  out += ",\"events\":\"" + std::to_string(trace.events_size()) + "\"}}\n";
  return out;
}

Status write_chrome_json(const std::string& path, const proto::Trace& trace) {
  return write_text_file(path, to_chrome_json(trace), "Chrome trace JSON");
}

}  // namespace kiln::traces
