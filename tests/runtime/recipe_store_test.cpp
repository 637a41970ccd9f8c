// The on-disk recipe cache end to end: a second runtime and a second process
// compile nothing and compute the same values; concurrent processes share
// the directory without corrupting it; the size limit evicts the least
// recently used; the options come from the environment too.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "recipe_store_util.h"

extern char** environ;

namespace kiln::runtime {
namespace {

using namespace testing;  // NOLINT

constexpr const char* kChildOut = "KILN_TEST_RECIPE_CHILD_OUT";

// Tests choose the cache directory themselves.
class RecipeStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("KILN_RECIPE_CACHE_DIR");
    ::unsetenv("KILN_RECIPE_CACHE_BYTES");
  }
};

// ---------------------------------------------------------------- a second process

// Run by the tests below in a second process (and skipped otherwise): the
// program with the cache directory of $KILN_RECIPE_CACHE_DIR; writes its
// counters and values to $KILN_TEST_RECIPE_CHILD_OUT.
TEST(RecipeStoreChild, RunsTheProgram) {
  const char* out = std::getenv(kChildOut);
  if (out == nullptr) GTEST_SKIP() << "runs in the second process of the recipe store tests";
  const Outcome o = run_program({});
  std::ofstream f(out);
  f << o.stats.compilations << ' ' << o.stats.disk_hits << ' ' << o.stats.cache_hits << ' ' << o.values.size() << '\n';
  for (float v : o.values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    f << bits << '\n';
  }
}

struct Child {
  pid_t pid = 0;
  std::string out, err;  // its results; its stderr
};

Child spawn_child(const std::string& cache_dir, const std::string& scratch, int index) {
  Child c;
  c.out = scratch + "/child" + std::to_string(index) + ".out";
  c.err = scratch + "/child" + std::to_string(index) + ".err";
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    // GTEST_*: a sharded run's shard would filter the child's one test away.
    if (v.starts_with("KILN_RECIPE_CACHE") || v.starts_with(kChildOut) || v.starts_with("GTEST_")) continue;
    env.emplace_back(v);
  }
  env.push_back("KILN_RECIPE_CACHE_DIR=" + cache_dir);
  env.push_back(std::string(kChildOut) + "=" + c.out);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string filter = "--gtest_filter=RecipeStoreChild.RunsTheProgram";
  std::vector<char*> argv = {const_cast<char*>(self.c_str()), filter.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, c.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int rc = ::posix_spawn(&c.pid, self.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << std::strerror(rc);
  return c;
}

// Waits for the child; its counters and values.
Outcome finish(const Child& c) {
  int status = 0;
  EXPECT_EQ(::waitpid(c.pid, &status, 0), c.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the second process failed: " << read_bytes(c.err);
  Outcome o;
  std::ifstream in(c.out);
  std::size_t n = 0;
  in >> o.stats.compilations >> o.stats.disk_hits >> o.stats.cache_hits >> n;
  for (std::size_t i = 0; i < n; ++i) {
    uint32_t bits = 0;
    in >> bits;
    float v = 0;
    std::memcpy(&v, &bits, 4);
    o.values.push_back(v);
  }
  EXPECT_TRUE(in.good() || n == 0) << "unreadable results from the second process";
  return o;
}

// ---------------------------------------------------------------- tests

class SecondRuntime : public RecipeStoreTest, public ::testing::WithParamInterface<Mode> {};

TEST_P(SecondRuntime, CompilesNothingAndComputesTheSameValues) {
  ScratchDir dir;
  const Outcome reference = run_program({.mode = GetParam()});
  const Outcome first = run_program({.dir = dir.path(), .mode = GetParam()});
  ASSERT_GT(first.stats.compilations, 0u);
  EXPECT_EQ(first.stats.compilations, reference.stats.compilations);
  EXPECT_EQ(first.stats.disk_hits, 0u);
  EXPECT_EQ(cache_files(dir.path()).size(), first.stats.compilations);
  EXPECT_TRUE(other_files(dir.path()).empty());
  EXPECT_EQ(first.values, reference.values);

  const Outcome second = run_program({.dir = dir.path(), .mode = GetParam()});
  EXPECT_EQ(second.stats.compilations, 0u);
  EXPECT_EQ(second.stats.cache_misses, 0u);
  EXPECT_EQ(second.stats.graph_nodes_compiled, 0u);
  EXPECT_EQ(second.stats.disk_hits, first.stats.compilations);
  EXPECT_EQ(second.stats.cached_recipes, first.stats.cached_recipes);  // the hits went into memory too
  EXPECT_EQ(second.values, first.values);
}

INSTANTIATE_TEST_SUITE_P(RecipeStore, SecondRuntime, ::testing::Values(Mode::kEager, Mode::kLazy),
                         [](const auto& p) { return p.param == Mode::kEager ? "Eager" : "Lazy"; });

TEST_F(RecipeStoreTest, ASecondProcessCompilesNothing) {
  ScratchDir dir, scratch;
  const Outcome first = run_program({.dir = dir.path()});
  ASSERT_EQ(first.stats.compilations, 2u);
  const Outcome second = finish(spawn_child(dir.path(), scratch.path(), 0));
  EXPECT_EQ(second.stats.compilations, 0u);
  EXPECT_EQ(second.stats.disk_hits, 2u);
  EXPECT_EQ(second.values, first.values);
}

TEST_F(RecipeStoreTest, ConcurrentProcessesShareTheDirectoryWithoutCorruptingIt) {
  ScratchDir dir, scratch;
  const Outcome reference = run_program({});
  // Three processes start on an empty cache at once: each compiles what it
  // does not find, and they store the same keys at about the same time.
  std::vector<Child> children;
  for (int i = 0; i < 3; ++i) children.push_back(spawn_child(dir.path(), scratch.path(), i));
  for (const Child& c : children) {
    const Outcome o = finish(c);
    EXPECT_EQ(o.stats.compilations + o.stats.disk_hits, 2u);
    EXPECT_EQ(o.values, reference.values);
    EXPECT_EQ(read_bytes(c.err).find("recipe cache"), std::string::npos) << read_bytes(c.err);
  }
  EXPECT_EQ(cache_files(dir.path()).size(), 2u);
  EXPECT_TRUE(other_files(dir.path()).empty()) << "a temporary file was left behind";
  ::testing::internal::CaptureStderr();
  const Outcome after = run_program({.dir = dir.path()});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(after.stats.compilations, 0u);
  EXPECT_EQ(after.stats.disk_hits, 2u);
  EXPECT_EQ(after.values, reference.values);
}

uint64_t total_bytes(const std::vector<std::string>& files) {
  uint64_t n = 0;
  for (const auto& f : files) n += fs::file_size(f);
  return n;
}

TEST_F(RecipeStoreTest, TheSizeLimitEvictsTheLeastRecentlyUsed) {
  ScratchDir dir, other;
  // The two steps' files: the first step's is older.
  run_program({.dir = dir.path(), .pause_ms = 20});
  const auto files = cache_files(dir.path());
  ASSERT_EQ(files.size(), 2u);
  // A run of the first step only finds it, and makes it the most recent.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const Outcome hit = run_program({.dir = dir.path(), .steps = 1});
  EXPECT_EQ(hit.stats.disk_hits, 1u);
  const auto mtime = [](const std::string& f) { return fs::last_write_time(f); };
  const std::string first_step = mtime(files[0]) > mtime(files[1]) ? files[0] : files[1];
  const std::string second_step = first_step == files[0] ? files[1] : files[0];
  // A third graph (other shapes), with room for it and one more file: the
  // least recently used (the second step's) goes.
  run_program({.dir = other.path(), .steps = 1, .rows = 3});
  const uint64_t third = total_bytes(cache_files(other.path()));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const uint64_t limit = fs::file_size(first_step) + third;
  const Outcome o = run_program({.dir = dir.path(), .limit = limit, .steps = 1, .rows = 3});
  EXPECT_EQ(o.stats.compilations, 1u);
  const auto left = cache_files(dir.path());
  EXPECT_EQ(left.size(), 2u);
  EXPECT_LE(total_bytes(left), limit);
  EXPECT_TRUE(fs::exists(first_step));
  EXPECT_FALSE(fs::exists(second_step));
  // So the program's first step is still a hit, its second compiles again.
  const Outcome again = run_program({.dir = dir.path()});
  EXPECT_EQ(again.stats.disk_hits, 1u);
  EXPECT_EQ(again.stats.compilations, 1u);
}

TEST_F(RecipeStoreTest, TheOptionsComeFromTheEnvironmentToo) {
  ScratchDir dir;
  ::setenv("KILN_RECIPE_CACHE_DIR", dir.path().c_str(), 1);
  ::setenv("KILN_RECIPE_CACHE_BYTES", "1K", 1);  // smaller than any recipe: nothing is stored
  ::testing::internal::CaptureStderr();
  const Outcome small = run_program({});
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(small.stats.compilations, 2u);
  EXPECT_NE(err.find("kiln: recipe cache: not storing a recipe of"), std::string::npos) << err;
  EXPECT_NE(err.find("the cache's limit is 1024"), std::string::npos) << err;
  EXPECT_TRUE(cache_files(dir.path()).empty());

  ::setenv("KILN_RECIPE_CACHE_BYTES", "lots", 1);  // not a byte count: the default
  ::testing::internal::CaptureStderr();
  const Outcome stored = run_program({});
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("ignoring KILN_RECIPE_CACHE_BYTES=lots (not a byte count); using 1073741824 bytes"),
            std::string::npos)
      << err;
  EXPECT_EQ(cache_files(dir.path()).size(), 2u);
  ::unsetenv("KILN_RECIPE_CACHE_BYTES");
  const Outcome hit = run_program({});
  EXPECT_EQ(hit.stats.disk_hits, 2u);
  EXPECT_EQ(hit.values, stored.values);
  // The option wins over the environment.
  ScratchDir mine;
  run_program({.dir = mine.path()});
  EXPECT_EQ(cache_files(mine.path()).size(), 2u);
  ::unsetenv("KILN_RECIPE_CACHE_DIR");
}

TEST_F(RecipeStoreTest, AnUnusableDirectoryWarnsAndTheProgramRunsWithoutIt) {
  ScratchDir dir;
  write_bytes(dir.path() + "/file", "not a directory");
  const Outcome reference = run_program({});
  ::testing::internal::CaptureStderr();
  const Outcome o = run_program({.dir = dir.path() + "/file/cache"});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("kiln: recipe cache: cannot use directory " + dir.path() + "/file/cache"), std::string::npos)
      << err;
  EXPECT_EQ(o.stats.compilations, 2u);
  EXPECT_EQ(o.values, reference.values);
}

}  // namespace
}  // namespace kiln::runtime
