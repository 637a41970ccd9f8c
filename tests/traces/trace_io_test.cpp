// Protobuf trace files: recorder -> proto -> file -> proto -> events is
// lossless, and unreadable files fail with an error naming the path.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kiln/traces/recorder.h"
#include "kiln/traces/trace_io.h"

namespace kiln::traces {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, so tests may run in parallel under ctest -j.
class TraceIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("kiln_trace_io_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write_bytes(const std::string& file, const std::string& bytes) const {
    std::ofstream(file, std::ios::binary) << bytes;
  }

  fs::path dir_;
};

void expect_same(const TraceEvent& a, const TraceEvent& b) {
  EXPECT_EQ(a.track, b.track);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.start_ps, b.start_ps);
  EXPECT_EQ(a.end_ps, b.end_ps);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.flops, b.flops);
  EXPECT_EQ(a.sequence, b.sequence);
  EXPECT_EQ(a.clock, b.clock);
  EXPECT_EQ(a.detail, b.detail);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.ops, b.ops);
  EXPECT_EQ(a.waits_for, b.waits_for);
  EXPECT_EQ(a.job, b.job);
}

// Exercises every field, both clocks, extreme values and non-ASCII text.
std::vector<TraceEvent> sample_events() {
  std::vector<TraceEvent> events;
  events.push_back({"DMA0", 3, "LIN_DMA", 1'000, 2'500, 4096, 0, 7, TraceClock::kDeviceSimulated,
                    "src=0x1000 dst=0x2000", make_event_id(kDeviceEventSource, 5), {"embed"}, {}, 0});
  events.push_back({"MME1", 0, "gemm_128x128", 2'000, 900'000'000, 0, 4'194'304, 8,
                    TraceClock::kDeviceSimulated, "", make_event_id(2, (uint64_t{1} << 32) - 1),
                    {"fc1", "bias", "gelu", "µ op"}, {make_event_id(kDeviceEventSource, 5), 7, UINT64_MAX}, 42});
  events.push_back({"host", -1, "hlthunk_command_submission", 0, 123'456'789, 0, 0, 0,
                    TraceClock::kHostWall, "µs \"quoted\"\nnewline"});
  events.push_back({"TPC10", 12, "relu_f32", UINT64_MAX - 5, UINT64_MAX, UINT64_MAX, UINT64_MAX,
                    UINT64_MAX, TraceClock::kDeviceSimulated, "max"});
  events.push_back({"", -1, "", 0, 0, 0, 0, 0, TraceClock::kDeviceSimulated, ""});
  return events;
}

TEST_F(TraceIoTest, ToProtoCopiesEveryFieldAndMapsClocks) {
  const auto events = sample_events();
  const proto::Trace trace = to_proto("gaudi2", events);
  EXPECT_EQ(trace.device(), "gaudi2");
  ASSERT_EQ(trace.events_size(), static_cast<int>(events.size()));
  const proto::TraceEvent& dma = trace.events(0);
  EXPECT_EQ(dma.track(), "DMA0");
  EXPECT_EQ(dma.queue(), 3);
  EXPECT_EQ(dma.name(), "LIN_DMA");
  EXPECT_EQ(dma.start_ps(), 1'000u);
  EXPECT_EQ(dma.end_ps(), 2'500u);
  EXPECT_EQ(dma.bytes(), 4096u);
  EXPECT_EQ(dma.sequence(), 7u);
  EXPECT_EQ(dma.detail(), "src=0x1000 dst=0x2000");
  EXPECT_EQ(dma.clock(), proto::DEVICE_SIMULATED);
  EXPECT_EQ(trace.events(1).flops(), 4'194'304u);
  EXPECT_EQ(trace.events(2).clock(), proto::HOST_WALL);
  EXPECT_EQ(trace.events(2).queue(), -1);
  EXPECT_EQ(dma.id(), 5u);
  ASSERT_EQ(dma.ops_size(), 1);
  EXPECT_EQ(dma.ops(0), "embed");
  const proto::TraceEvent& mme = trace.events(1);
  EXPECT_EQ(mme.id(), (uint64_t{2} << 32) | 0xffffffffu);
  EXPECT_EQ(mme.ops_size(), 4);
  ASSERT_EQ(mme.waits_for_size(), 3);
  EXPECT_EQ(mme.waits_for(2), UINT64_MAX);
  EXPECT_EQ(mme.job(), 42u);
}

TEST_F(TraceIoTest, TheRecorderGivesDeviceIdsToEventsWithoutOne) {
  TraceRecorder recorder("gaudi2");
  EXPECT_EQ(recorder.record({.track = "DMA0"}), make_event_id(kDeviceEventSource, 1));
  EXPECT_EQ(recorder.reserve_id(), 2u);  // a job's id: the same counter, no event
  EXPECT_EQ(recorder.record({.track = "host", .id = make_event_id(1, 1)}), (uint64_t{1} << 32) + 1);
  EXPECT_EQ(recorder.record({.track = "DMA1"}), 3u);
  recorder.clear();
  // Ids keep counting: one never names two events of a run.
  EXPECT_EQ(recorder.record({.track = "DMA0"}), 4u);
  const auto events = recorder.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, 4u);
  // Ids of every source stay exact as JSON numbers (below 2^53).
  EXPECT_LT(make_event_id(kMaxEventSource, UINT32_MAX), uint64_t{1} << 53);
}

TEST_F(TraceIoTest, FromProtoReadsUnspecifiedClockAsDevice) {
  proto::Trace trace;
  trace.add_events()->set_clock(proto::TRACE_CLOCK_UNSPECIFIED);
  trace.add_events()->set_clock(proto::HOST_WALL);
  const auto events = from_proto(trace);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].clock, TraceClock::kDeviceSimulated);
  EXPECT_EQ(events[1].clock, TraceClock::kHostWall);
  EXPECT_EQ(events[0].queue, 0);  // proto3 default, not the recorder's -1
}

TEST_F(TraceIoTest, RecorderToFileAndBackIsLossless) {
  TraceRecorder recorder("gaudi2");
  for (const TraceEvent& e : sample_events()) recorder.record(e);
  const proto::Trace written = to_proto(recorder.device_name(), recorder.events());
  const std::string file = path("run.kiln-trace");
  ASSERT_TRUE(write_trace_file(file, written).ok());

  Result<proto::Trace> read = read_trace_file(file);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(written, *read));
  EXPECT_EQ(read->device(), "gaudi2");

  const auto original = recorder.events();
  const auto back = from_proto(*read);
  ASSERT_EQ(back.size(), original.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    expect_same(back[i], original[i]);
  }
}

TEST_F(TraceIoTest, EventsRecordedFromManyThreadsAllRoundTrip) {
  TraceRecorder recorder("gaudi2");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&recorder, t] {
      for (int i = 0; i < kPerThread; ++i) {
        recorder.record({"host", -1, "call", static_cast<uint64_t>(i), static_cast<uint64_t>(i + 1),
                         0, 0, static_cast<uint64_t>(t * kPerThread + i + 1), TraceClock::kHostWall,
                         ""});
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string file = path("threads.kiln-trace");
  ASSERT_TRUE(write_trace_file(file, to_proto("gaudi2", recorder.events())).ok());
  Result<proto::Trace> read = read_trace_file(file);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  ASSERT_EQ(read->events_size(), kThreads * kPerThread);
  std::vector<bool> seen(kThreads * kPerThread + 1, false);
  for (const auto& e : read->events()) seen.at(e.sequence()) = true;
  EXPECT_EQ(std::count(seen.begin() + 1, seen.end(), true), kThreads * kPerThread);
}

TEST_F(TraceIoTest, EmptyTraceRoundTrips) {
  const std::string file = path("empty.kiln-trace");
  ASSERT_TRUE(write_trace_file(file, to_proto("", {})).ok());
  Result<proto::Trace> read = read_trace_file(file);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(read->events_size(), 0);
  EXPECT_TRUE(from_proto(*read).empty());
}

TEST_F(TraceIoTest, WriteOverwritesAnExistingFile) {
  const std::string file = path("twice.kiln-trace");
  ASSERT_TRUE(write_trace_file(file, to_proto("big", sample_events())).ok());
  ASSERT_TRUE(write_trace_file(file, to_proto("small", {})).ok());
  Result<proto::Trace> read = read_trace_file(file);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(read->device(), "small");
  EXPECT_EQ(read->events_size(), 0);
}

TEST_F(TraceIoTest, ReadMissingFileIsNotFoundAndNamesThePath) {
  const std::string file = path("does-not-exist.kiln-trace");
  Result<proto::Trace> read = read_trace_file(file);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(read.status().message().find(file), std::string::npos) << read.status().message();
  EXPECT_NE(read.status().message().find("No such file"), std::string::npos);
}

TEST_F(TraceIoTest, ReadDirectoryNamesThePath) {
  Result<proto::Trace> read = read_trace_file(dir_.string());
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find(dir_.string()), std::string::npos);
  EXPECT_NE(read.status().message().find("directory"), std::string::npos);
}

// Protobuf accepts many byte strings as unknown fields; these must still be
// refused as "not a Kiln trace", naming the file.
TEST_F(TraceIoTest, ReadGarbageIsNotAKilnTraceAndNamesThePath) {
  std::string truncated = to_proto("gaudi2", sample_events()).SerializeAsString();
  truncated.pop_back();  // cuts the last event's detail string short
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"text.txt", "this is not a trace\n"},
      {"json.json", "{\"traceEvents\":[]}"},
      {"binary.bin", std::string("\x7f" "ELF\x02\x01\x01\x00\x00\x00\xff\xfe", 12)},
      {"truncated.kiln-trace", truncated},
  };
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name);
    const std::string file = path(name);
    write_bytes(file, bytes);
    Result<proto::Trace> read = read_trace_file(file);
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(read.status().message().find(file), std::string::npos) << read.status().message();
    EXPECT_NE(read.status().message().find("not a Kiln trace"), std::string::npos)
        << read.status().message();
  }
}

TEST_F(TraceIoTest, WriteIntoMissingDirectoryNamesThePathAndCause) {
  const std::string file = path("no/such/dir/out.kiln-trace");
  Status s = write_trace_file(file, to_proto("gaudi2", sample_events()));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(file), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No such file or directory"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kiln::traces
