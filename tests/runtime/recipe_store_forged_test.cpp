// The on-disk recipe cache never trusts a file: a torn, corrupted, foreign
// or forged one is ignored with a warning naming it and what is wrong, the
// program compiles once and computes the right values, and the recompiled
// recipe replaces the bad file. Threads storing one key leave a valid file.
#include <atomic>
#include <functional>
#include <thread>

#include "kiln/common/packets.h"
#include "kiln/driver/command_buffer.h"
#include "kiln/proto/command_buffer.pb.h"
#include "kiln/proto/recipe.pb.h"
#include "lowering.h"
#include "recipe_store.h"
#include "recipe_store_util.h"

namespace kiln::runtime {
namespace {

using namespace testing;  // NOLINT

struct Damage {
  const char* name;
  // Damages the cache files; returns how many it damaged.
  std::function<std::size_t(const std::vector<std::string>& files)> apply;
  const char* reason;  // what the warning says
};

// Rewrites each file with `edit` of its bytes.
std::function<std::size_t(const std::vector<std::string>&)> each(std::function<void(std::string&)> edit) {
  return [edit](const std::vector<std::string>& files) {
    for (const auto& f : files) {
      std::string bytes = read_bytes(f);
      edit(bytes);
      write_bytes(f, bytes);
    }
    return files.size();
  };
}

// Forges the payload of each file whose recipe `edit` changes (returns
// true), behind a header with the right checksums.
std::function<std::size_t(const std::vector<std::string>&)> forge(std::function<bool(proto::Recipe&)> edit) {
  return [edit](const std::vector<std::string>& files) {
    std::size_t n = 0;
    for (const auto& f : files) {
      proto::RecipeFile file;
      const std::string bytes = read_bytes(f);
      EXPECT_TRUE(file.ParseFromString(bytes.substr(40)));
      if (!edit(*file.mutable_recipe())) continue;
      write_bytes(f, frame_recipe_file(file.SerializeAsString()));
      ++n;
    }
    return n;
  };
}

// The first queue with a program, edited as a saved command buffer.
bool edit_program(proto::Recipe& r, const std::function<void(proto::SavedCommandBuffer&)>& edit) {
  for (int q = 0; q < r.programs_size(); ++q) {
    proto::SavedCommandBuffer cb;
    EXPECT_TRUE(cb.ParseFromString(r.programs(q)));
    if (cb.packets().empty()) continue;
    edit(cb);
    r.set_programs(q, cb.SerializeAsString());
    return true;
  }
  return false;
}

int first_program(const proto::Recipe& r) {
  for (int q = 0; q < r.programs_size(); ++q) {
    proto::SavedCommandBuffer cb;
    if (cb.ParseFromString(r.programs(q)) && !cb.packets().empty()) return q;
  }
  return -1;
}

template <typename P>
void append_packet(proto::SavedCommandBuffer& cb, const P& p) {
  cb.mutable_packets()->append(reinterpret_cast<const char*>(&p), sizeof p);
}

const std::vector<Damage>& damages() {
  static const std::vector<Damage> list = {
      {"Truncated", each([](std::string& b) { b.resize(b.size() / 2); }), "torn: the header says"},
      {"Empty", each([](std::string& b) { b.clear(); }), "truncated: 0 bytes, a header needs 40"},
      {"FlippedPayloadByte", each([](std::string& b) { b[b.size() - 7] ^= 0x20; }),
       "corrupted: the payload does not match its checksums"},
      {"FlippedMagic", each([](std::string& b) { b[0] ^= 1; }), "not a recipe cache file (wrong magic)"},
      {"Garbage", each([](std::string& b) { b = std::string(3000, '\x5a'); }), "not a recipe cache file"},
      {"NewerFormat", each([](std::string& b) { b[8] = 2; }), "format version 2; this runtime reads 1"},
      {"Foreign",
       [](const std::vector<std::string>& files) {  // each holds the other's recipe
         const std::string a = read_bytes(files[0]);
         write_bytes(files[0], read_bytes(files[1]));
         write_bytes(files[1], a);
         return files.size();
       },
       "foreign: it holds the recipe of another cache key"},
      {"InputNotExternal", forge([](proto::Recipe& r) { return r.inputs_size() > 0 && (r.set_inputs(0, 100000), true); }),
       "is not a distinct external input of the graph"},
      {"OtherOutputs", forge([](proto::Recipe& r) { return r.outputs_size() > 0 && (r.set_outputs(0, r.outputs(0) + 1), true); }),
       "it keeps other values than the graph"},
      {"OutputQueue", forge([](proto::Recipe& r) { return r.output_queue_size() > 0 && (r.set_output_queue(0, 9), true); }),
       "an output is written on queue 9"},
      {"SignalCount",
       forge([](proto::Recipe& r) {
         const int q = first_program(r);
         return q >= 0 && (r.set_signals(q, r.signals(q) + 1), true);
       }),
       "jobs, but the recipe says"},
      {"HugeWorkspace", forge([](proto::Recipe& r) { return r.set_workspace_bytes(uint64_t{1} << 50), true; }),
       "bytes exceeds every value the graph produces"},
      {"SwappedPrograms",
       forge([](proto::Recipe& r) {
         if (first_program(r) < 0) return false;
         r.mutable_programs()->SwapElements(0, 1);
         return true;
       }),
       "does not signal its queue's timeline"},
      {"AbsoluteAddress",
       forge([](proto::Recipe& r) {
         return edit_program(r, [](proto::SavedCommandBuffer& cb) {
           auto p = packets::make_packet<packets::LinDmaPacket>(packets::Opcode::LIN_DMA, driver::kOrdered);
           p.dst_addr = 0x100000;  // whatever the process maps there
           p.src_addr = driver::bound(kFirstTensorSlot);
           p.size_bytes = 64;
           append_packet(cb, p);
         });
       }),
       "destination 0x100000 is not a binding"},
      {"ReachPastATensor",
       forge([](proto::Recipe& r) {
         return edit_program(r, [](proto::SavedCommandBuffer& cb) {
           auto* u = cb.add_uses();
           u->set_slot(kFirstTensorSlot);
           u->set_extent(uint64_t{1} << 30);
         });
       }),
       "reaches 1073741824 bytes of tensor slot 0"},
      {"WaitForAJobThatNeverRuns",
       forge([](proto::Recipe& r) {
         return edit_program(r, [](proto::SavedCommandBuffer& cb) {
           auto p = packets::make_packet<packets::WaitSyncPacket>(packets::Opcode::WAIT_SYNC, driver::kOrdered);
           p.sync = driver::bound_sync(kTimelineSlot + kDmaQueue);
           p.value = 1000;
           append_packet(cb, p);
         });
       }),
       "waits for job 1000 of a queue that runs 0"},
      {"PacketTheCompilerNeverEmits",
       forge([](proto::Recipe& r) {
         return edit_program(r, [](proto::SavedCommandBuffer& cb) {
           append_packet(cb, packets::make_packet<packets::NopPacket>(packets::Opcode::NOP, 0));
         });
       }),
       "(NOP) is not a packet the compiler emits"},
  };
  return list;
}

class DamagedFiles : public ::testing::TestWithParam<std::size_t> {
 protected:
  void SetUp() override { ::unsetenv("KILN_RECIPE_CACHE_DIR"); }
};

TEST_P(DamagedFiles, AreIgnoredWithAWarningAndReplaced) {
  const Damage& damage = damages()[GetParam()];
  ScratchDir dir;
  const Outcome reference = run_program({});
  run_program({.dir = dir.path()});
  const auto files = cache_files(dir.path());
  ASSERT_EQ(files.size(), 2u);
  const std::size_t damaged = damage.apply(files);
  ASSERT_GT(damaged, 0u);

  ::testing::internal::CaptureStderr();
  const Outcome o = run_program({.dir = dir.path()});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(o.stats.compilations, damaged);
  EXPECT_EQ(o.stats.disk_hits, 2 - damaged);
  EXPECT_EQ(o.values, reference.values);
  std::size_t warnings = 0;
  for (std::size_t at = 0; (at = err.find("kiln: recipe cache: ignoring ", at)) != std::string::npos; ++at) ++warnings;
  EXPECT_EQ(warnings, damaged) << err;
  EXPECT_NE(err.find(damage.reason), std::string::npos) << err;
  bool named = false;
  for (const auto& f : files) named = named || err.find("ignoring " + f + ": ") != std::string::npos;
  EXPECT_TRUE(named) << err;

  // The recompiled recipes replaced the bad files.
  ::testing::internal::CaptureStderr();
  const Outcome again = run_program({.dir = dir.path()});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(again.stats.compilations, 0u);
  EXPECT_EQ(again.stats.disk_hits, 2u);
  EXPECT_EQ(again.values, reference.values);
}

INSTANTIATE_TEST_SUITE_P(RecipeStore, DamagedFiles, ::testing::Range<std::size_t>(0, damages().size()),
                         [](const auto& p) { return std::string(damages()[p.param].name); });

TEST(RecipeStoreThreads, ConcurrentStoresOfOneKeyLeaveAValidFile) {
  ScratchDir source, dir;
  run_program({.dir = source.path(), .steps = 1});
  const auto files = cache_files(source.path());
  ASSERT_EQ(files.size(), 1u);
  const std::string bytes = read_bytes(files[0]);
  proto::RecipeFile file;
  ASSERT_TRUE(file.ParseFromString(bytes.substr(40)));
  const std::string key = file.key();
  const std::shared_ptr<Recipe> recipe = take(decode_recipe_file(bytes, key));

  const RecipeStore store(dir.path(), uint64_t{1} << 30);
  const std::string path = store.path_for(key);
  EXPECT_EQ(fs::path(path).filename(), fs::path(files[0]).filename());  // the same name in every process
  std::atomic<bool> writing{true};
  std::atomic<int> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (writing.load()) {
        const std::string seen = read_bytes(path);
        if (seen.empty()) continue;  // not written yet
        ++reads;
        if (!decode_recipe_file(seen, key).ok()) ++bad;
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < 25; ++i) store.store(key, *recipe);
    });
  }
  for (auto& t : writers) t.join();
  writing = false;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_EQ(read_bytes(path), bytes);  // what every process writes for this key
  EXPECT_EQ(cache_files(dir.path()).size(), 1u);
  EXPECT_TRUE(other_files(dir.path()).empty());
}

}  // namespace
}  // namespace kiln::runtime
