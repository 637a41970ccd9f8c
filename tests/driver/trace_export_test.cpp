// A real device run, written as a protobuf trace and exported to Chrome JSON:
// the JSON parses, and it has exactly one track per engine that worked plus
// one for the host.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "../traces/json_parser.h"
#include "kiln/traces/analysis.h"
#include "kiln/traces/trace_io.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::take;

TEST(TraceExport, DeviceRunExportsOneTrackPerEngine) {
  auto dev = testing::open_device("gaudi2");
  // Large enough that each copy is still running when the next one arrives a
  // submission's host cost later.
  const uint64_t n = 64 << 20;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n));
  std::vector<Stream*> streams;
  for (int i = 0; i < 4; ++i) streams.push_back(take(dev->create_stream()));
  for (Stream* s : streams) (void)take(s->copy(b.address, a.address, n));  // concurrent: several DMA engines
  auto e = take(dev->create_event());
  ASSERT_OK(streams[3]->record(*e));  // the last copy to start ends last
  ASSERT_OK(streams[0]->wait_event(*e));
  ASSERT_OK(dev->synchronize());

  std::set<std::string> engine_tracks;
  for (const auto& ev : dev->trace()->events()) {
    if (ev.clock == traces::TraceClock::kDeviceSimulated) engine_tracks.insert(ev.track);
  }
  EXPECT_GE(std::count_if(engine_tracks.begin(), engine_tracks.end(),
                          [](const std::string& t) { return t.rfind("DMA", 0) == 0; }),
            4);
  // The event wait is one sync wait on the waiting queue's command processor.
  bool sync_wait = false;
  for (const auto& ev : testing::device_events(*dev, "CP", static_cast<int>(streams[0]->queue()))) {
    sync_wait |= ev.name == "sync wait";
  }
  EXPECT_TRUE(sync_wait);

  const auto dir = std::filesystem::temp_directory_path();
  const std::string pb = (dir / "kiln_trace_export_test.pb").string();
  const std::string json = (dir / "kiln_trace_export_test.json").string();
  ASSERT_OK(dev->write_trace(pb));
  auto loaded = take(traces::read_trace_file(pb));
  EXPECT_EQ(loaded.device(), "gaudi2");
  EXPECT_EQ(static_cast<std::size_t>(loaded.events_size()), dev->trace()->size());
  // The trace carries its device's peaks, so its roofline needs no config.
  const auto peaks = traces::recorded_peaks(loaded);
  ASSERT_TRUE(peaks.has_value());
  EXPECT_DOUBLE_EQ(peaks->matrix_flops_per_s, dev->properties().peak_matrix_flops);
  EXPECT_EQ(peaks->vector_engines, dev->properties().tpc_count);
  EXPECT_DOUBLE_EQ(peaks->hbm_bytes_per_s, dev->properties().hbm_bandwidth_gb_per_s * 1e9);
  ASSERT_OK(traces::write_chrome_json(json, loaded));

  std::ifstream in(json);
  std::stringstream text;
  text << in.rdbuf();
  const std::string json_text = text.str();
  test_json::JsonParser parser(json_text);
  auto doc = parser.parse();
  ASSERT_TRUE(doc.has_value()) << parser.error();
  const test_json::Json* events = doc->find("traceEvents");
  ASSERT_NE(events, nullptr);

  std::multiset<std::string> device_threads;
  std::multiset<std::string> host_threads;
  for (const auto& ev : events->items) {
    const auto* name = ev.find("name");
    if (ev.find("ph")->text != "M" || name->text != "thread_name") continue;
    const std::string track = ev.find("args")->find("name")->text;
    (ev.find("pid")->text == "1" ? device_threads : host_threads).insert(track);
  }
  // The simulated timeline holds the engines and the host thread's calls on
  // its simulated clock; the wall-time process holds the host calls again.
  std::set<std::string> simulated_tracks = engine_tracks;
  simulated_tracks.insert("host");
  EXPECT_EQ(std::set<std::string>(device_threads.begin(), device_threads.end()), simulated_tracks);
  EXPECT_EQ(device_threads.size(), simulated_tracks.size()) << "a track appears twice";
  EXPECT_EQ(host_threads, std::multiset<std::string>{"host"});
  std::remove(pb.c_str());
  std::remove(json.c_str());
}

TEST(TraceExport, TracePathOptionWritesTheTraceWhenTheDeviceCloses) {
  const std::string path = (std::filesystem::temp_directory_path() / "kiln_trace_on_close.pb").string();
  std::remove(path.c_str());
  std::size_t recorded = 0;
  {
    DeviceOptions options;
    options.trace_path = path;
    auto dev = take(Device::open("tiny", options));
    auto a = take(dev->allocate(4096)), b = take(dev->allocate(4096));
    ASSERT_OK(dev->copy_on_device(b.address, a.address, 4096));
    recorded = dev->trace()->size();
  }
  auto loaded = take(traces::read_trace_file(path));
  EXPECT_GE(static_cast<std::size_t>(loaded.events_size()), recorded);
  EXPECT_EQ(loaded.device(), "tiny");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kiln::driver
