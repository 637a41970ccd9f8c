// The recipe cache: compiled recipes by the signature of the graph they came
// from (its ops, attributes, views, the shapes and dtypes of its inputs and
// which values it keeps), least recently used first out. A miss says why:
// whether any cached recipe has the same ops, and if one does, which input's
// shape or dtype differs from it — the question "why did this step
// recompile?".
//
// Internal to kiln_runtime. Not thread-safe: the runtime guards it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler.h"
#include "graph.h"

namespace kiln::runtime {

struct GraphSignature {
  std::string key;       // everything the recipe depends on
  std::string skeleton;  // the same without shapes, dtypes, strides and offsets
  std::vector<std::string> inputs;  // each external input's "dtype[shape]", in slot order
  std::vector<std::string> input_readers;  // the op that first reads each
  std::string summary;   // "12 ops: matmul x2, add, ..."
};

// The cache key of a graph as launched: its running hash, the values it
// keeps (`outputs`) and `context`, anything else the recipe depends on
// (device, compiler version, options). O(outputs).
GraphHash cache_key(const Graph& g, const std::vector<int>& outputs, const GraphHash& context);

// The signature, for miss reasons and the disk cache: O(graph).
GraphSignature graph_signature(const Graph& g, const std::vector<int>& outputs, const std::string& context);

class RecipeCache {
 public:
  explicit RecipeCache(std::size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<Recipe> find(const GraphHash& key);
  // `signature` (built on a miss only) answers later misses' "why". Returns
  // the recipes it evicted to make room (the runtime frees what it keeps
  // for them).
  std::vector<std::shared_ptr<Recipe>> insert(const GraphHash& key, const GraphSignature& signature,
                                              std::shared_ptr<Recipe> recipe);
  // Why `signature` found no recipe.
  std::string miss_reason(const GraphSignature& signature) const;

  std::size_t size() const { return lru_.size(); }
  uint64_t bytes() const { return bytes_; }
  void clear() {
    by_key_.clear();
    lru_.clear();
    bytes_ = 0;
  }

 private:
  struct Entry {
    GraphHash key;
    std::string skeleton;
    std::vector<std::string> inputs;
    std::shared_ptr<Recipe> recipe;
  };
  std::size_t capacity_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<GraphHash, std::list<Entry>::iterator, GraphHashOf> by_key_;
  uint64_t bytes_ = 0;
};

}  // namespace kiln::runtime
