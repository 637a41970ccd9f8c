// The engine job queue (sim/src/engine_queue.h) that the DMA, MME and TPC
// engines serve: a job whose execution throws ends with a kEngineError fault
// on its submission, no exception reaches SystemC (which would end the
// process), and the engine serves the next job.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine_queue.h"
#include "fault_injector.h"
#include "kiln/sim/sim_host.h"
#include "kiln/traces/recorder.h"
#include "systemc.h"

namespace kiln::sim {
namespace {

// What EngineQueue::serve asks of a device.
struct FakeDevice {
  FaultInjector faults;
  int in_flight = 0;
  std::vector<traces::TraceEvent> events;
  void job_started() { ++in_flight; }
  void job_finished() { --in_flight; }
  uint64_t now_ps() const { return 0; }
  // As DeviceImpl::record_job: the event carries the job's trace.
  void record_job(const JobTrace& job, traces::TraceEvent e) {
    e.job = job.job;
    if (job.ops) e.ops = *job.ops;
    e.waits_for = job.waits_for;
    events.push_back(std::move(e));
  }
};

struct Job {
  uint32_t queue = 0;
  uint64_t sequence = 0;
  uint64_t packet_offset = 0;
  int throws = 0;  // 0: runs; 1: a std::runtime_error; 2: an int
  std::function<void(std::optional<FaultRecord>)> on_done;
  JobTrace trace;
};

// Runs every delta cycle pending at the current time (simulation thread).
void settle() {
  while (sc_core::sc_pending_activity_at_current_time()) sc_core::sc_start(sc_core::SC_ZERO_TIME);
}

TEST(EngineQueue, AJobThatThrowsFaultsAndTheEngineServesTheNext) {
  FakeDevice device;
  EngineQueue<Job> queue;
  std::vector<std::optional<FaultRecord>> done;
  sc_core::sc_process_handle engine;
  SimHost& host = SimHost::instance();
  host.run_sync([&] {
    engine = sc_core::sc_spawn(
        [&] {
          queue.serve(device, "DMA0", [](const Job& job) -> std::optional<FaultRecord> {
            if (job.throws == 1) throw std::runtime_error("the copy gave up");
            if (job.throws == 2) throw 7;
            return std::nullopt;
          });
        },
        "engine_queue_test_engine");
    uint64_t sequence = 0;
    for (int throws : {1, 0, 2, 0}) {
      queue.push(Job{3, ++sequence, 0x40, throws, [&](std::optional<FaultRecord> f) { done.push_back(std::move(f)); },
                     JobTrace{100 + sequence, std::make_shared<const std::vector<std::string>>(1, "op"), {sequence}}});
    }
    settle();
  });
  ASSERT_EQ(done.size(), 4u);
  ASSERT_TRUE(done[0].has_value());
  EXPECT_EQ(done[0]->cause, FaultCause::kEngineError);
  EXPECT_EQ(done[0]->engine, "DMA0");
  EXPECT_EQ(done[0]->queue, 3u);
  EXPECT_EQ(done[0]->sequence, 1u);
  EXPECT_EQ(done[0]->packet_offset, 0x40u);
  EXPECT_EQ(done[0]->detail, "DMA0 threw: the copy gave up");
  EXPECT_FALSE(done[1].has_value());
  ASSERT_TRUE(done[2].has_value());
  EXPECT_EQ(done[2]->detail, "DMA0 threw: an exception that is not a std::exception");
  EXPECT_FALSE(done[3].has_value());
  EXPECT_EQ(device.in_flight, 0);
  ASSERT_EQ(device.events.size(), 2u);  // a mark on the engine's track per failed job
  // Each names its job, its ops and what the job waited for.
  EXPECT_EQ(device.events[0].job, 101u);
  EXPECT_EQ(device.events[0].ops, std::vector<std::string>{"op"});
  EXPECT_EQ(device.events[0].waits_for, std::vector<uint64_t>{1});
  EXPECT_EQ(device.events[1].job, 103u);

  // Killing the process unwinds it through serve() untouched.
  bool terminated = false;
  host.run_sync([&] {
    sc_core::sc_spawn([&] { engine.kill(); }, "engine_queue_test_reaper");
    settle();
    terminated = engine.terminated();
  });
  EXPECT_TRUE(terminated);
}

}  // namespace
}  // namespace kiln::sim
