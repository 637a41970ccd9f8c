// The on-disk recipe cache's directory: loads, atomic stores, and eviction
// by size (recipe_store.h). The file format is recipe_file.cpp's.
#include "recipe_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <system_error>

namespace kiln::runtime {

namespace {

namespace fs = std::filesystem;

// Temporary files of writers that died are removed once this old.
constexpr int64_t kStaleTempSeconds = 3600;

void warn(const std::string& message) { std::fprintf(stderr, "kiln: recipe cache: %s\n", message.c_str()); }

std::string error_text(int error) { return std::error_code(error, std::generic_category()).message(); }

bool is_cache_file(const std::string& name) {
  constexpr std::string_view kSuffix = ".recipe";
  if (name.size() != 32 + kSuffix.size() || name.compare(32, kSuffix.size(), kSuffix) != 0) return false;
  return std::all_of(name.begin(), name.begin() + 32,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_temp_file(const std::string& name) { return name.size() > 1 && name[0] == '.' && name.find(".tmp.") != std::string::npos; }

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// The whole file at `path`, at most `max` bytes. Sets *absent (and returns
// an empty string) if there is none.
Result<std::string> read_file(const std::string& path, uint64_t max, bool* absent) {
  *absent = false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *absent = true;
      return std::string();
    }
    return invalid_argument("cannot open it: " + error_text(errno));
  }
  struct stat st {};
  std::string out;
  Status status;
  if (::fstat(fd, &st) != 0) {
    status = invalid_argument("cannot stat it: " + error_text(errno));
  } else if (!S_ISREG(st.st_mode)) {
    status = invalid_argument("it is not a regular file");
  } else if (static_cast<uint64_t>(st.st_size) > max) {
    status = invalid_argument("it has " + std::to_string(st.st_size) + " bytes, more than the cache's limit of " +
                              std::to_string(max));
  } else {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = invalid_argument("reading it failed: " + error_text(errno));
        break;
      }
      if (n == 0) break;  // shorter than its size said: decoding finds it torn
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
  }
  ::close(fd);
  if (!status.ok()) return status;
  return out;
}

Status write_file(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return invalid_argument("cannot create " + path + ": " + error_text(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      return invalid_argument("writing " + path + " failed: " + error_text(error));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return invalid_argument("writing " + path + " failed: " + error_text(errno));
  return {};
}

// A name no other writer (thread, process, or process of another machine or
// container sharing the directory) picks at the same time.
std::string temp_name(const std::string& final_name) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".tmp.%d.%llu.%llx", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1)), static_cast<unsigned long long>(salt));
  return "." + final_name + suffix;
}

}  // namespace

RecipeStore::RecipeStore(std::string dir, uint64_t limit_bytes) : dir_(std::move(dir)), limit_(limit_bytes) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (!ec && !fs::is_directory(dir_, ec)) ec = std::make_error_code(std::errc::not_a_directory);
  if (ec) {
    warn("cannot use directory " + dir_ + ": " + ec.message() + "; running without the on-disk cache");
    return;
  }
  usable_ = true;
}

std::string RecipeStore::path_for(std::string_view key) const { return dir_ + "/" + recipe_file_name(key); }

std::shared_ptr<Recipe> RecipeStore::load(const std::string& key, const Graph& g, const std::vector<int>& outputs) const {
  if (!usable_) return nullptr;
  const std::string path = path_for(key);
  bool absent = false;
  Result<std::string> bytes = read_file(path, limit_, &absent);
  if (absent) return nullptr;
  Result<std::shared_ptr<Recipe>> recipe = bytes.ok() ? decode_recipe_file(*bytes, key) : bytes.status();
  Status fits = recipe.ok() ? check_recipe_fits(**recipe, g, outputs) : recipe.status();
  if (!fits.ok()) {
    warn("ignoring " + path + ": " + fits.message());
    return nullptr;
  }
  // Recently used: eviction goes by modification time. (A read-only
  // directory keeps its times; that is all.)
  (void)::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
  return std::move(recipe).value();
}

void RecipeStore::store(const std::string& key, const Recipe& recipe) const {
  if (!usable_) return;
  Result<std::string> bytes = encode_recipe_file(key, recipe);
  if (!bytes.ok()) {
    warn("not storing a recipe: " + bytes.status().message());
    return;
  }
  if (bytes->size() > limit_) {
    warn("not storing a recipe of " + std::to_string(bytes->size()) + " bytes: the cache's limit is " +
         std::to_string(limit_));
    return;
  }
  const std::string name = recipe_file_name(key);
  const std::string temp = dir_ + "/" + temp_name(name);
  Status written = write_file(temp, *bytes);
  if (written.ok() && ::rename(temp.c_str(), (dir_ + "/" + name).c_str()) != 0) {
    written = invalid_argument("renaming " + temp + " failed: " + error_text(errno));
  }
  if (!written.ok()) {
    (void)::unlink(temp.c_str());
    warn("not storing a recipe: " + written.message());
    return;
  }
  evict();
}

void RecipeStore::evict() const {
  struct File {
    std::string path;
    uint64_t bytes;
    int64_t mtime;
  };
  std::vector<File> files;
  uint64_t total = 0;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool cache = is_cache_file(name);
    if (!cache && !is_temp_file(name)) continue;
    struct stat st {};
    const std::string path = it->path().string();
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (!cache) {
      if (now - st.st_mtim.tv_sec > kStaleTempSeconds) (void)::unlink(path.c_str());
      continue;
    }
    files.push_back({path, static_cast<uint64_t>(st.st_size), mtime_ns(st)});
    total += static_cast<uint64_t>(st.st_size);
  }
  if (ec) warn("listing " + dir_ + " failed: " + ec.message());
  if (total <= limit_) return;
  std::sort(files.begin(), files.end(),
            [](const File& a, const File& b) { return a.mtime != b.mtime ? a.mtime < b.mtime : a.path < b.path; });
  for (const File& f : files) {
    if (total <= limit_) break;
    // Another process may have removed it already: it is gone either way.
    (void)::unlink(f.path.c_str());
    total -= f.bytes;
  }
}

}  // namespace kiln::runtime
