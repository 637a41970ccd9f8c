// The on-disk recipe cache: compiled recipes in a directory that runs and
// concurrent processes share, so a second run of a program compiles nothing
// (docs/runtime-cache.md says how to turn it on).
//
// Files. One per cache key (recipe_cache.h: the graph, its input
// signatures, the device config, the compiler version and options), named
// by a 128-bit hash of the key (two different 64-bit hashes, in hex) with
// the suffix ".recipe". A file is a 40-byte header — magic "KILNRCPE",
// format version, header size, payload size, and the two 64-bit hashes of
// the payload — then the payload, a kiln.proto.RecipeFile (recipe.proto):
// the full key and the recipe, whose command buffers are driver blobs
// (kiln/driver/command_buffer_io.h).
//
// Concurrency. A write goes to a temporary file in the same directory
// (".<name>.tmp.<pid>.<n>", never read) and is renamed over the cache file:
// rename is atomic, so a reader sees a whole file, old or new, never a
// partial one. Two processes storing one key both rename; the last wins and
// both files were whole. No locks: every operation is safe by construction.
//
// Nothing on disk is trusted. A file that is too short or too long, has
// another magic or format version, a payload whose size or hashes do not
// match, that does not parse, holds another key (a foreign file), or whose
// recipe fails the checks — the driver's checks of each command buffer, the
// recipe's own consistency (each queue's jobs signal its timeline exactly
// `signals` times, waits only on other queues' timelines for jobs that
// exist, binding slots the runtime binds; the same for the constant
// section's programs, which bind no tensors, and constants that come with a
// section and stay within kMaxConstantBytes), and against the graph it is to
// run (its kept values, inputs that are external values, extents within the
// tensors bound) — is ignored with a warning on stderr naming the file and
// what is wrong, and the graph is compiled; the bad file is left where it is
// and replaced by the recompiled recipe's write (deleting it could race with
// another process renaming a good one into its place). The hashes catch
// accidents (a flipped byte, a torn copy); a deliberately forged file with
// correct hashes and key can compute wrong values, but cannot make the device
// touch memory outside the tensors and workspace a launch binds.
//
// Size. After each write, if the cache files exceed the limit, the least
// recently used (by modification time; a hit touches its file) are removed
// until they fit. Temporary files left by a crashed writer are removed when
// an hour old.
//
// Errors never fail a step: the cache is an optimisation, so what goes
// wrong (an unwritable directory, a full disk) is a warning.
//
// Internal to kiln_runtime. Thread-safe (no state besides the directory).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler.h"
#include "graph.h"

namespace kiln::runtime {

class RecipeStore {
 public:
  // Creates `dir` if it is missing. `limit_bytes` bounds the cache files.
  RecipeStore(std::string dir, uint64_t limit_bytes);

  const std::string& dir() const { return dir_; }
  uint64_t limit_bytes() const { return limit_; }
  // False if the directory could not be created (a warning said why).
  bool usable() const { return usable_; }
  // The file holding `key`'s recipe.
  std::string path_for(std::string_view key) const;

  // The recipe stored for `key`, checked against `g` (`outputs`: the values
  // it keeps), or null: none stored, or the file was ignored with a warning.
  std::shared_ptr<Recipe> load(const std::string& key, const Graph& g, const std::vector<int>& outputs) const;
  // Stores `recipe` for `key`, then evicts down to the limit.
  void store(const std::string& key, const Recipe& recipe) const;

 private:
  void evict() const;

  std::string dir_;
  uint64_t limit_;
  bool usable_ = false;
};

// The name of the file that holds `key`'s recipe: 32 hex digits, ".recipe".
std::string recipe_file_name(std::string_view key);
// The bytes of a cache file for `key`, and the recipe in such bytes (after
// every check that needs no graph). Errors say what is wrong.
Result<std::string> encode_recipe_file(std::string_view key, const Recipe& recipe);
Result<std::shared_ptr<Recipe>> decode_recipe_file(std::string_view bytes, std::string_view key);
// A serialized kiln.proto.RecipeFile behind its header (what
// encode_recipe_file writes; tests forge files with it).
std::string frame_recipe_file(std::string_view payload);
// Whether `recipe`, as decode_recipe_file returned it, can run graph `g`
// keeping `outputs`.
Status check_recipe_fits(const Recipe& recipe, const Graph& g, const std::vector<int>& outputs);

}  // namespace kiln::runtime
