#include "recipe_cache.h"

#include <map>
#include <sstream>

namespace kiln::runtime {

namespace {

std::string meta(const Shape& shape, DType dtype) {
  return std::string(dtype_name(dtype)) + to_string(shape);
}

}  // namespace

GraphSignature graph_signature(const Graph& g, const std::vector<int>& outputs, const std::string& context) {
  GraphSignature s;
  std::ostringstream key, skeleton;
  key << context << '#';
  skeleton << context << '#';
  // Values are numbered in recording order, so the same program records the
  // same numbers; externals are renumbered in order of first use.
  std::map<int, int> external_number;
  std::map<std::string, int> op_counts;
  for (const Node& n : g.nodes) {
    key << int(n.op) << '"' << (g.labels_in_key ? n.label : std::string()) << '"' << '(';
    skeleton << int(n.op) << '(';
    for (int64_t i : n.attrs.ints) key << i << ',';
    for (double f : n.attrs.floats) key << std::hexfloat << f << std::defaultfloat << ',';
    for (const View& in : n.inputs) {
      const Value& v = g.values[static_cast<std::size_t>(in.value)];
      // Built by appends: GCC 12 at -O3 reports a false -Wrestrict on "x" + std::to_string(...).
      std::string id(1, v.producer < 0 ? 'x' : 'v');
      if (v.producer < 0) {
        auto [it, inserted] = external_number.emplace(in.value, static_cast<int>(external_number.size()));
        if (inserted) {
          s.inputs.push_back(meta(v.shape, v.dtype));
          s.input_readers.push_back(n.label);
        }
        id += std::to_string(it->second);
      } else {
        id += std::to_string(in.value);
      }
      key << id << ':' << meta(in.shape, in.dtype) << to_string(in.strides) << '+' << in.offset << ';';
      skeleton << id << ';';
    }
    key << ")";
    skeleton << ")";
    ++op_counts[std::string(op_name(n.op))];
  }
  key << "->";
  for (int out : outputs) key << out << ',';
  skeleton << "->" << outputs.size();
  s.key = key.str();
  s.skeleton = skeleton.str();
  std::ostringstream summary;
  summary << g.nodes.size() << (g.nodes.size() == 1 ? " op: " : " ops: ");
  bool first = true;
  for (const auto& [name, count] : op_counts) {
    summary << (first ? "" : ", ") << name;
    if (count > 1) summary << " x" << count;
    first = false;
  }
  s.summary = summary.str();
  return s;
}

GraphHash cache_key(const Graph& g, const std::vector<int>& outputs, const GraphHash& context) {
  GraphHash h = g.hash;
  h.mix(context.a);
  h.mix(context.b);
  h.mix(static_cast<uint64_t>(outputs.size()));
  for (int out : outputs) h.mix(static_cast<uint64_t>(out));
  return h;
}

std::shared_ptr<Recipe> RecipeCache::find(const GraphHash& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->recipe;
}

std::vector<std::shared_ptr<Recipe>> RecipeCache::insert(const GraphHash& key, const GraphSignature& signature,
                                                         std::shared_ptr<Recipe> recipe) {
  std::vector<std::shared_ptr<Recipe>> evicted;
  if (by_key_.count(key)) return evicted;
  bytes_ += recipe->bytes();
  lru_.push_front({key, signature.skeleton, signature.inputs, std::move(recipe)});
  by_key_[key] = lru_.begin();
  while (lru_.size() > capacity_) {
    bytes_ -= lru_.back().recipe->bytes();
    by_key_.erase(lru_.back().key);
    evicted.push_back(std::move(lru_.back().recipe));
    lru_.pop_back();
  }
  return evicted;
}

std::string RecipeCache::miss_reason(const GraphSignature& signature) const {
  for (const Entry& e : lru_) {
    if (e.skeleton != signature.skeleton) continue;
    // The nearest recipe: the same ops on inputs of other shapes.
    for (std::size_t i = 0; i < signature.inputs.size() && i < e.inputs.size(); ++i) {
      if (signature.inputs[i] != e.inputs[i]) {
        const std::string reader =
            i < signature.input_readers.size() ? " (first read by " + signature.input_readers[i] + ")" : "";
        return "input " + std::to_string(i) + reader + " is " + signature.inputs[i] +
               "; the cached recipe of the same ops has " + e.inputs[i];
      }
    }
    return "a cached recipe has the same ops, but a view, attribute or intermediate shape differs";
  }
  return lru_.empty() ? "the cache is empty" : "no recipe for these ops yet";
}

}  // namespace kiln::runtime
