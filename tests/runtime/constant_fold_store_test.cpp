// A recipe with a constant section in the on-disk recipe cache: the section
// is stored with it, and a runtime (in this process or another) that loads
// the recipe runs the section at its first launch and computes the same
// values. A file whose constant section is damaged or forged is ignored with
// a warning, the step compiles, and the new recipe replaces the file.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <functional>

#include "kiln/common/packets.h"
#include "kiln/driver/command_buffer.h"
#include "kiln/proto/command_buffer.pb.h"
#include "kiln/proto/recipe.pb.h"
#include "lowering.h"
#include "recipe_store.h"
#include "recipe_store_util.h"

extern char** environ;

namespace kiln::runtime {
namespace {

using namespace testing;  // NOLINT

constexpr const char* kConstantsChildOut = "KILN_TEST_CONSTANTS_CHILD_OUT";
constexpr int64_t kN = 24;

struct StepRun {
  std::vector<float> values;
  RuntimeStats stats;
};

// One lazy step: (x + causal mask) * (1 / sqrt(16)); the mask and the scale
// fold. `dir`: the disk cache.
StepRun run_masked(const std::string& dir) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.recipe_cache_dir = dir;
  auto rt = take(Runtime::open("tiny", o));
  const Tensor x = take(rt->from_host(random_floats(kN * kN, 11), {kN, kN}));
  Tensor y;
  {
    // Scoped: a tensor still referred to at mark_step is a value the step
    // keeps, and that is not folded.
    const Tensor pos = take(rt->arange(kN, DType::kF32));
    const Tensor future = take(gt(take(pos.reshape({1, kN})), take(pos.reshape({kN, 1}))));
    const Tensor mask =
        take(where(future, take(rt->full({}, -100.0, DType::kF32)), take(rt->full({}, 0.0, DType::kF32))));
    const Tensor scale = take(rsqrt(take(rt->full({}, 16.0, DType::kF32))));
    y = take(mul(take(add(x, mask)), scale));
  }
  EXPECT_TRUE(rt->mark_step().ok());
  StepRun r;
  r.values = take(y.to_host<float>());
  r.stats = rt->stats();
  return r;
}

class ConstantsOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("KILN_RECIPE_CACHE_DIR");
    ::unsetenv("KILN_RECIPE_CACHE_BYTES");
  }
};

// StepRun in a second process by the test below (skipped otherwise): the step
// with the cache of $KILN_RECIPE_CACHE_DIR; its counters and values go to
// $KILN_TEST_CONSTANTS_CHILD_OUT.
TEST(ConstantsOnDiskChild, RunsTheStep) {
  const char* out = std::getenv(kConstantsChildOut);
  if (out == nullptr) GTEST_SKIP() << "runs in the second process of the constant-section disk tests";
  const StepRun r = run_masked(std::getenv("KILN_RECIPE_CACHE_DIR"));
  std::ofstream f(out);
  f << r.stats.compilations << ' ' << r.stats.disk_hits << ' ' << r.stats.constant_sections_run << '\n';
  for (float v : r.values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    f << bits << '\n';
  }
}

// The child's counters (compilations, disk hits, sections run) and values.
std::pair<std::array<uint64_t, 3>, std::vector<float>> run_child(const std::string& cache_dir,
                                                                 const std::string& scratch) {
  const std::string out = scratch + "/child.out", err = scratch + "/child.err";
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    // GTEST_*: a sharded run's shard would filter the child's one test away.
    if (!v.starts_with("KILN_RECIPE_CACHE") && !v.starts_with(kConstantsChildOut) && !v.starts_with("GTEST_")) {
      env.emplace_back(v);
    }
  }
  env.push_back("KILN_RECIPE_CACHE_DIR=" + cache_dir);
  env.push_back(std::string(kConstantsChildOut) + "=" + out);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string filter = "--gtest_filter=ConstantsOnDiskChild.RunsTheStep";
  std::vector<char*> argv = {const_cast<char*>(self.c_str()), filter.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << std::strerror(rc);
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the second process failed: " << read_bytes(err);
  std::array<uint64_t, 3> counters{};
  std::vector<float> values;
  std::ifstream in(out);
  in >> counters[0] >> counters[1] >> counters[2];
  for (uint32_t bits = 0; in >> bits;) {
    float v = 0;
    std::memcpy(&v, &bits, 4);
    values.push_back(v);
  }
  return {counters, values};
}

TEST_F(ConstantsOnDisk, ARecipeLoadedFromDiskRunsItsSectionAtItsFirstLaunch) {
  ScratchDir dir, scratch;
  const StepRun reference = run_masked("");
  ASSERT_EQ(reference.stats.constant_sections_run, 1u) << reference.stats.last_compile_log;
  const StepRun first = run_masked(dir.path());
  EXPECT_EQ(first.stats.compilations, 1u);
  EXPECT_EQ(first.values, reference.values);
  const auto files = cache_files(dir.path());
  ASSERT_EQ(files.size(), 1u);
  // The file holds the section.
  proto::RecipeFile file;
  ASSERT_TRUE(file.ParseFromString(read_bytes(files[0]).substr(40)));
  EXPECT_EQ(file.recipe().constant_programs_size(), 3);
  EXPECT_EQ(file.recipe().constant_bytes(), 2560u);  // the mask (2304 bytes) and the scale, each 256-aligned

  const StepRun second = run_masked(dir.path());
  EXPECT_EQ(second.stats.compilations, 0u);
  EXPECT_EQ(second.stats.disk_hits, 1u);
  EXPECT_EQ(second.stats.constant_sections_run, 1u);
  EXPECT_EQ(second.values, reference.values);

  const auto [counters, values] = run_child(dir.path(), scratch.path());
  EXPECT_EQ(counters[0], 0u);  // compilations
  EXPECT_EQ(counters[1], 1u);  // disk hits
  EXPECT_EQ(counters[2], 1u);  // sections run
  EXPECT_EQ(values, reference.values);
}

// ---------------------------------------------------------------- damaged sections

// The first queue whose constant program has packets, edited.
bool edit_section(proto::Recipe& r, const std::function<void(proto::SavedCommandBuffer&)>& edit) {
  for (int q = 0; q < r.constant_programs_size(); ++q) {
    proto::SavedCommandBuffer cb;
    EXPECT_TRUE(cb.ParseFromString(r.constant_programs(q)));
    if (cb.packets().empty()) continue;
    edit(cb);
    r.set_constant_programs(q, cb.SerializeAsString());
    return true;
  }
  return false;
}

struct Forgery {
  const char* name;
  std::function<bool(proto::Recipe&)> edit;  // false: nothing to forge
  const char* reason;
};

const std::vector<Forgery>& forgeries() {
  static const std::vector<Forgery> list = {
      {"SectionReadsATensor",
       [](proto::Recipe& r) {
         return edit_section(r, [](proto::SavedCommandBuffer& cb) {
           auto* u = cb.add_uses();
           u->set_slot(kFirstTensorSlot);
           u->set_extent(64);
         });
       },
       "the constant section reads no input and writes no output"},
      {"StepReadsPastTheConstants",
       [](proto::Recipe& r) {
         proto::SavedCommandBuffer cb;
         EXPECT_TRUE(cb.ParseFromString(r.programs(1)));  // the vector cores' program reads the mask
         auto* u = cb.add_uses();
         u->set_slot(kConstantSlot);
         u->set_extent(r.constant_bytes() + 1);
         r.set_programs(1, cb.SerializeAsString());
         return true;
       },
       "(the constants): reaches 2561 bytes of 2560"},
      {"SectionSignalCount",
       [](proto::Recipe& r) { return r.set_constant_signals(1, r.constant_signals(1) + 1), true; },
       "the constant section's queue 1 runs"},
      {"SectionPrograms",
       [](proto::Recipe& r) { return r.mutable_constant_programs()->RemoveLast(), true; },
       "its constant section has 2 programs and 3 signal counts"},
      {"ConstantsWithoutASection",
       [](proto::Recipe& r) {
         r.clear_constant_programs();
         r.clear_constant_signals();
         return true;
       },
       "it has constants but no constant section to write them"},
      {"ASectionWithoutConstants", [](proto::Recipe& r) { return r.set_constant_bytes(0), true; },
       "it has a constant section but no constants"},
      {"HugeConstants", [](proto::Recipe& r) { return r.set_constant_bytes(uint64_t{1} << 40), true; },
       "bytes, more than a recipe keeps"},
      {"HugeSectionWorkspace", [](proto::Recipe& r) { return r.set_constant_workspace_bytes(uint64_t{1} << 40), true; },
       "bytes of workspace exceed every value the graph produces"},
  };
  return list;
}

class ForgedSections : public ConstantsOnDisk, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(ForgedSections, AreIgnoredWithAWarningAndReplaced) {
  const Forgery& forgery = forgeries()[GetParam()];
  ScratchDir dir;
  const StepRun reference = run_masked("");
  run_masked(dir.path());
  const auto files = cache_files(dir.path());
  ASSERT_EQ(files.size(), 1u);
  proto::RecipeFile file;
  ASSERT_TRUE(file.ParseFromString(read_bytes(files[0]).substr(40)));
  ASSERT_TRUE(forgery.edit(*file.mutable_recipe()));
  write_bytes(files[0], frame_recipe_file(file.SerializeAsString()));

  ::testing::internal::CaptureStderr();
  const StepRun r = run_masked(dir.path());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("kiln: recipe cache: ignoring " + files[0] + ": "), std::string::npos) << err;
  EXPECT_NE(err.find(forgery.reason), std::string::npos) << err;
  EXPECT_EQ(r.stats.compilations, 1u);
  EXPECT_EQ(r.stats.disk_hits, 0u);
  EXPECT_EQ(r.values, reference.values);

  ::testing::internal::CaptureStderr();
  const StepRun again = run_masked(dir.path());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(again.stats.disk_hits, 1u);
  EXPECT_EQ(again.stats.constant_sections_run, 1u);
  EXPECT_EQ(again.values, reference.values);
}

INSTANTIATE_TEST_SUITE_P(ConstantFold, ForgedSections, ::testing::Range<std::size_t>(0, forgeries().size()),
                         [](const auto& p) { return std::string(forgeries()[p.param].name); });

}  // namespace
}  // namespace kiln::runtime
