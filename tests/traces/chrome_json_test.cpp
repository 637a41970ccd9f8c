// Chrome trace JSON export: the output is strict JSON (checked by the small
// parser in json_parser.h), has one named, naturally sorted thread per track,
// exact microsecond times, escaped strings, and is byte-identical for
// identical input.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_parser.h"
#include "kiln/traces/trace_io.h"

namespace kiln::traces {
namespace {

using kiln::test_json::Json;
using kiln::test_json::JsonParser;

TEST(JsonParserSelfTest, RejectsWhatIsNotJson) {
  for (std::string_view bad : {"{\"a\":1,}", "[1,]", "{\"a\":01}", "\"a\nb\"", "{\"a\":1,\"a\":2}",
                               "\"\\x\"", "[1] x", "\"\xff\"", "{'a':1}", "1.", "\"\\ud800\""}) {
    EXPECT_FALSE(JsonParser(bad).parse().has_value()) << bad;
  }
  auto ok = JsonParser(" {\"a\":[1,-2.5e3,true,null,\"\\u00b5\\ud83d\\ude00\"]} ").parse();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->find("a")->items[4].text, "\xc2\xb5\xf0\x9f\x98\x80");
}

// ---- Helpers over the exported document ------------------------------------

Json parse_or_die(const std::string& text) {
  JsonParser parser(text);
  std::optional<Json> doc = parser.parse();
  EXPECT_TRUE(doc.has_value()) << parser.error() << "\n" << text;
  return doc.value_or(Json{});
}

// "12.345678" microseconds -> picoseconds, exactly; nullopt if not that shape.
std::optional<uint64_t> micros_to_ps(const std::string& text) {
  const std::size_t dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || frac.size() > 6 || whole[0] == '-') return std::nullopt;
  frac.resize(6, '0');
  return std::stoull(whole) * 1'000'000 + std::stoull(frac);
}

std::string str(const Json* v) { return v && v->kind == Json::Kind::kString ? v->text : "<missing>"; }
std::string num(const Json* v) { return v && v->kind == Json::Kind::kNumber ? v->text : "<missing>"; }

struct Exported {
  Json doc;
  std::vector<const Json*> metadata;  // "M" events
  std::vector<const Json*> complete;  // "X" events, in output order
  std::vector<const Json*> flows;     // "s" and "f" records, in output order
};

Exported export_and_parse(const proto::Trace& trace) {
  Exported ex;
  ex.doc = parse_or_die(to_chrome_json(trace));
  const Json* events = ex.doc.find("traceEvents");
  if (!events || events->kind != Json::Kind::kArray) {
    ADD_FAILURE() << "no traceEvents array";
    return ex;
  }
  for (const Json& e : events->items) {
    const std::string ph = str(e.find("ph"));
    if (ph == "M") ex.metadata.push_back(&e);
    else if (ph == "X") ex.complete.push_back(&e);
    else if (ph == "s" || ph == "f") ex.flows.push_back(&e);
    else ADD_FAILURE() << "unexpected phase " << ph;
  }
  return ex;
}

TraceEvent ev(std::string track, std::string name, uint64_t start, uint64_t end,
              TraceClock clock = TraceClock::kDeviceSimulated) {
  TraceEvent e;
  e.track = std::move(track);
  e.name = std::move(name);
  e.start_ps = start;
  e.end_ps = end;
  e.clock = clock;
  return e;
}

// Engine tracks out of order, with multi-digit indices, and host calls.
proto::Trace mixed_trace() {
  std::vector<TraceEvent> events = {
      ev("DMA10", "LIN_DMA", 0, 1'500'000),
      ev("host", "submit", 500, 2'000'000, TraceClock::kHostWall),
      ev("DMA2", "LIN_DMA", 1'234'567, 2'345'678),
      ev("SYNC", "WREG_32", 7, 8),
      ev("CP1", "FENCE", 999'999, 1'000'000),
      ev("DMA0", "LIN_DMA", 1, 2),
      ev("DMA10", "LIN_DMA", 1'500'000, 3'000'001),
      ev("host", "wait", 2'000'000, 9'000'000'000'123, TraceClock::kHostWall),
      ev("DMA2", "LIN_DMA", UINT64_MAX - 1'000'000, UINT64_MAX),
  };
  return to_proto("gaudi2", events);
}

// ---- Tests ------------------------------------------------------------------

TEST(ChromeJson, HasTheDocumentedTopLevelShape) {
  Exported ex = export_and_parse(mixed_trace());
  ASSERT_EQ(ex.doc.kind, Json::Kind::kObject);
  EXPECT_EQ(str(ex.doc.find("displayTimeUnit")), "ns");
  ASSERT_NE(ex.doc.find("otherData"), nullptr);
  EXPECT_EQ(ex.doc.find("otherData")->kind, Json::Kind::kObject);
  EXPECT_EQ(str(ex.doc.find("otherData")->find("device")), "gaudi2");
  EXPECT_EQ(ex.complete.size(), 9u);
}

TEST(ChromeJson, OneThreadNamePerTrackAndOneProcessPerClock) {
  Exported ex = export_and_parse(mixed_trace());
  std::map<std::string, std::string> process_names;
  std::map<std::string, std::multiset<std::string>> threads;  // pid -> names
  for (const Json* m : ex.metadata) {
    const std::string what = str(m->find("name"));
    const std::string pid = num(m->find("pid"));
    if (what == "process_name") {
      EXPECT_TRUE(process_names.emplace(pid, str(m->find("args")->find("name"))).second);
    } else if (what == "thread_name") {
      threads[pid].insert(str(m->find("args")->find("name")));
    }
  }
  EXPECT_EQ(process_names, (std::map<std::string, std::string>{{"1", "gaudi2 (simulated)"},
                                                               {"2", "host (wall)"}}));
  EXPECT_EQ(threads["1"], (std::multiset<std::string>{"CP1", "DMA0", "DMA2", "DMA10", "SYNC"}));
  EXPECT_EQ(threads["2"], (std::multiset<std::string>{"host"}));
}

TEST(ChromeJson, ThreadsSortInNaturalNameOrder) {
  Exported ex = export_and_parse(mixed_trace());
  std::map<std::string, std::string> name_of_tid;  // device process only
  std::map<std::string, int> sort_of_tid;
  for (const Json* m : ex.metadata) {
    if (num(m->find("pid")) != "1") continue;
    const std::string tid = num(m->find("tid"));
    if (str(m->find("name")) == "thread_name") name_of_tid[tid] = str(m->find("args")->find("name"));
    if (str(m->find("name")) == "thread_sort_index") {
      sort_of_tid[tid] = std::stoi(num(m->find("args")->find("sort_index")));
    }
  }
  std::map<int, std::string> by_sort;
  for (const auto& [tid, index] : sort_of_tid) {
    EXPECT_TRUE(by_sort.emplace(index, name_of_tid.at(tid)).second) << "duplicate sort index";
  }
  std::vector<std::string> order;
  for (const auto& [index, name] : by_sort) order.push_back(name);
  EXPECT_EQ(order, (std::vector<std::string>{"CP1", "DMA0", "DMA2", "DMA10", "SYNC"}));
}

TEST(ChromeJson, CompleteEventsCarryExactMicroseconds) {
  const proto::Trace trace = mixed_trace();
  Exported ex = export_and_parse(trace);
  std::map<std::pair<std::string, std::string>, std::string> thread_name;
  for (const Json* m : ex.metadata) {
    if (str(m->find("name")) == "thread_name") {
      thread_name[{num(m->find("pid")), num(m->find("tid"))}] = str(m->find("args")->find("name"));
    }
  }
  ASSERT_EQ(ex.complete.size(), static_cast<std::size_t>(trace.events_size()));
  for (int i = 0; i < trace.events_size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    const proto::TraceEvent& in = trace.events(i);
    const Json& out = *ex.complete[static_cast<std::size_t>(i)];
    EXPECT_EQ(str(out.find("name")), in.name());
    EXPECT_EQ(micros_to_ps(num(out.find("ts"))), in.start_ps()) << num(out.find("ts"));
    EXPECT_EQ(micros_to_ps(num(out.find("dur"))), in.end_ps() - in.start_ps());
    const std::string pid = num(out.find("pid"));
    EXPECT_EQ(pid, in.clock() == proto::HOST_WALL ? "2" : "1");
    EXPECT_EQ(thread_name[std::make_pair(pid, num(out.find("tid")))], in.track());
    // The category is the track kind: the name without its engine index.
    EXPECT_EQ(str(out.find("cat")), in.track().substr(0, in.track().find_first_of("0123456789")));
  }
  EXPECT_EQ(num(ex.complete[2]->find("ts")), "1.234567");
  EXPECT_EQ(num(ex.complete[7]->find("dur")), "8999998.000123");
}

TEST(ChromeJson, ArgsCarryOnlyFieldsWithInformation) {
  TraceEvent full = ev("DMA1", "copy", 0, 10);
  full.queue = 0;  // queue 0 is a real queue
  full.bytes = 4096;
  full.flops = 12;
  full.sequence = 99;
  full.detail = "dst=0x2000";
  const TraceEvent bare = ev("DMA1", "nop", 10, 20);  // queue -1, all zero
  Exported ex = export_and_parse(to_proto("g", {full, bare}));
  ASSERT_EQ(ex.complete.size(), 2u);
  const Json* args = ex.complete[0]->find("args");
  ASSERT_NE(args, nullptr);
  EXPECT_EQ(num(args->find("queue")), "0");
  EXPECT_EQ(num(args->find("bytes")), "4096");
  EXPECT_EQ(num(args->find("flops")), "12");
  EXPECT_EQ(num(args->find("seq")), "99");
  EXPECT_EQ(str(args->find("detail")), "dst=0x2000");
  EXPECT_EQ(ex.complete[1]->find("args"), nullptr);
}

TEST(ChromeJson, ArgsCarryIdsJobsOpsAndWaits) {
  TraceEvent e = ev("TPC0", "gelu", 0, 10);
  e.id = 7;
  e.job = 9;
  e.ops = {"fc1", "gelu \"fused\""};
  e.waits_for = {3, (uint64_t{1} << 53) - 1};
  Exported ex = export_and_parse(to_proto("g", {e}));
  ASSERT_EQ(ex.complete.size(), 1u);
  const Json* args = ex.complete[0]->find("args");
  ASSERT_NE(args, nullptr);
  EXPECT_EQ(num(args->find("id")), "7");
  EXPECT_EQ(num(args->find("job")), "9");
  ASSERT_NE(args->find("ops"), nullptr);
  ASSERT_EQ(args->find("ops")->items.size(), 2u);
  EXPECT_EQ(str(&args->find("ops")->items[1]), "gelu \"fused\"");
  ASSERT_NE(args->find("waits_for"), nullptr);
  ASSERT_EQ(args->find("waits_for")->items.size(), 2u);
  EXPECT_EQ(num(&args->find("waits_for")->items[1]), "9007199254740991");
  EXPECT_TRUE(ex.flows.empty());  // neither id it waits for is in the trace
}

TEST(ChromeJson, EachDependencyIsAFlowFromTheEventWaitedForToTheWaitingOne) {
  // A job on two MMEs (the second ends last); a kernel that waited for the
  // job; a copy that waited for the kernel, for an id not in the trace, and
  // for a host call on the wall clock (another process: no arrow).
  TraceEvent mme0 = ev("MME0", "gemm", 0, 10'000'000), mme1 = ev("MME1", "gemm", 0, 14'000'000);
  mme0.id = 1;
  mme1.id = 2;
  mme0.job = mme1.job = 100;
  TraceEvent kernel = ev("TPC0", "gelu", 15'000'000, 20'000'000);
  kernel.id = 3;
  kernel.waits_for = {100};
  TraceEvent wall = ev("host", "submit", 0, 1'000'000, TraceClock::kHostWall);
  wall.id = 4;
  TraceEvent copy = ev("DMA0", "copy", 21'000'000, 22'000'000);
  copy.id = 5;
  copy.waits_for = {3, 999, 4};
  Exported ex = export_and_parse(to_proto("g", {mme0, mme1, kernel, wall, copy}));
  ASSERT_EQ(ex.complete.size(), 5u);
  ASSERT_EQ(ex.flows.size(), 4u);  // two edges, two records each

  // Every record binds to its event: same pid and tid, at its start.
  auto bound_to = [&](const Json* flow, const std::string& track, const std::string& ts) {
    const Json* slice = nullptr;
    for (const Json* c : ex.complete) {
      if (str(c->find("name")) != "thread_name" && num(c->find("ts")) == ts &&
          num(c->find("tid")) == num(flow->find("tid")) && num(c->find("pid")) == num(flow->find("pid"))) {
        slice = c;
      }
    }
    return slice != nullptr && str(slice->find("cat")) == track && num(flow->find("ts")) == ts;
  };
  std::map<std::string, std::vector<const Json*>> by_id;
  for (const Json* f : ex.flows) {
    EXPECT_EQ(str(f->find("cat")), "dependency");
    EXPECT_EQ(str(f->find("name")), "waits for");
    by_id[num(f->find("id"))].push_back(f);
  }
  ASSERT_EQ(by_id.size(), 2u);
  const auto& job_edge = by_id.at("1");
  ASSERT_EQ(job_edge.size(), 2u);
  EXPECT_EQ(str(job_edge[0]->find("ph")), "s");
  EXPECT_EQ(str(job_edge[1]->find("ph")), "f");
  EXPECT_EQ(str(job_edge[1]->find("bp")), "e");
  // The job's arrow starts at its event that ended last, MME1.
  EXPECT_NE(num(job_edge[0]->find("tid")), num(ex.complete[0]->find("tid")));
  EXPECT_EQ(num(job_edge[0]->find("tid")), num(ex.complete[1]->find("tid")));
  EXPECT_TRUE(bound_to(job_edge[0], "MME", "0.000000"));
  EXPECT_TRUE(bound_to(job_edge[1], "TPC", "15.000000"));
  const auto& copy_edge = by_id.at("2");
  ASSERT_EQ(copy_edge.size(), 2u);
  EXPECT_TRUE(bound_to(copy_edge[0], "TPC", "15.000000"));
  EXPECT_TRUE(bound_to(copy_edge[1], "DMA", "21.000000"));
}

TEST(ChromeJson, StringsAreEscaped) {
  const std::string tricky = "say \"hi\" \\ to\nline\ttab\r\x01\x1f / \xc2\xb5s \xf0\x9f\x94\xa5";
  TraceEvent e = ev("host", tricky, 0, 1, TraceClock::kHostWall);
  e.detail = "bad utf-8: \xff\xc0\x80 end";
  Exported ex = export_and_parse(to_proto("dev \"quoted\"\n", {e}));
  ASSERT_EQ(ex.complete.size(), 1u);
  EXPECT_EQ(str(ex.complete[0]->find("name")), tricky);
  // Invalid bytes cannot be represented in JSON; each becomes U+FFFD.
  EXPECT_EQ(str(ex.complete[0]->find("args")->find("detail")),
            "bad utf-8: \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end");
  EXPECT_EQ(str(ex.doc.find("otherData")->find("device")), "dev \"quoted\"\n");

  const std::string raw = to_chrome_json(to_proto("d", {e}));
  EXPECT_NE(raw.find(R"(say \"hi\" \\ to\nline\ttab\r\u0001\u001f)"), std::string::npos) << raw;
}

TEST(ChromeJson, IdenticalInputGivesIdenticalBytes) {
  const std::string first = to_chrome_json(mixed_trace());
  EXPECT_EQ(first, to_chrome_json(mixed_trace()));
  proto::Trace reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(mixed_trace().SerializeAsString()));
  EXPECT_EQ(first, to_chrome_json(reparsed));
}

TEST(ChromeJson, EmptyAndOddTracesAreValid) {
  Exported empty = export_and_parse(to_proto("", {}));
  ASSERT_NE(empty.doc.find("traceEvents"), nullptr);
  EXPECT_TRUE(empty.doc.find("traceEvents")->items.empty());

  // No device name, no track name, and an event that ends before it starts.
  Exported odd = export_and_parse(to_proto("", {ev("", "x", 100, 50)}));
  ASSERT_EQ(odd.complete.size(), 1u);
  EXPECT_EQ(num(odd.complete[0]->find("dur")), "0.000000");
  EXPECT_EQ(str(odd.complete[0]->find("cat")), "unknown");
  std::set<std::string> names;
  for (const Json* m : odd.metadata) {
    if (const Json* args = m->find("args"); args && args->find("name")) names.insert(str(args->find("name")));
  }
  EXPECT_EQ(names, (std::set<std::string>{"device (simulated)", "(unnamed)"}));
}

TEST(ChromeJson, WriteChromeJsonWritesTheExportAndNamesBadPaths) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("kiln_chrome_json_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "out.json").string();
  ASSERT_TRUE(write_chrome_json(file, mixed_trace()).ok());
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, to_chrome_json(mixed_trace()));

  const std::string bad = (dir / "missing" / "out.json").string();
  Status s = write_chrome_json(bad, mixed_trace());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No such file or directory"), std::string::npos) << s.message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kiln::traces
