#include "constant_fold.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "memory_plan.h"

namespace kiln::runtime {

namespace {

// Whether a node without inputs makes the same values at every launch of a
// recipe, i.e. its values follow from the graph key (which holds every
// attribute). A random op qualifies by its seed (ints[0]): the generator is
// counter-based, so a seed and a shape give the same values on every launch,
// run and device. CSE keeps two random nodes apart all the same, because two
// calls are two draws in the program (were a generator ever to advance per
// call, merging them would change values); folding one draw changes nothing
// a launch can observe.
bool determined_by_key(const Node& n) {
  switch (n.op) {
    case OpKind::kFill:
    case OpKind::kArange:
      return true;
    case OpKind::kRandUniform:
    case OpKind::kRandNormal:
      return !n.attrs.ints.empty();
    default:
      return false;
  }
}

// Ops that compute nothing on a fill: reading back their result costs what
// writing it again does.
bool moves_only(OpKind op) { return op == OpKind::kFill || op == OpKind::kCopy || op == OpKind::kCast; }

std::string describe(const Graph& g, int value) {
  const Value& v = g.values[static_cast<std::size_t>(value)];
  std::string s(dtype_name(v.dtype));
  s += to_string(v.shape);
  s += " of '";
  s += g.nodes[static_cast<std::size_t>(v.producer)].label;
  s += "'";
  return s;
}

}  // namespace

ConstantSection constant_fold(const Graph& g, std::vector<int>& order, const std::set<int>& outputs,
                              std::vector<std::string>& log) {
  const std::size_t nodes = g.nodes.size();
  // constant[n]: depends on no input and keeps nothing. `order` lists
  // producers before readers, so one pass decides.
  std::vector<char> constant(nodes, 0), trivial(nodes, 0), in_step(nodes, 0);
  std::map<int, std::vector<int>> readers;
  for (int index : order) {
    const Node& n = g.nodes[static_cast<std::size_t>(index)];
    // Fused attention's tiles live in SRAM, which the constant section does not bind.
    bool c = (!n.inputs.empty() || determined_by_key(n)) && n.op != OpKind::kFusedSdpa;
    bool t = moves_only(n.op);
    for (const View& in : n.inputs) {
      readers[in.value].push_back(index);
      const int p = g.values[static_cast<std::size_t>(in.value)].producer;
      c = c && p >= 0 && constant[static_cast<std::size_t>(p)];
      t = t && p >= 0 && trivial[static_cast<std::size_t>(p)];
    }
    for (int out : n.outputs) c = c && outputs.count(out) == 0;
    constant[static_cast<std::size_t>(index)] = c;
    trivial[static_cast<std::size_t>(index)] = c && t;
    in_step[static_cast<std::size_t>(index)] = !c;
  }
  const auto read_by_step = [&](int value) {
    const auto it = readers.find(value);
    if (it == readers.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(),
                       [&](int r) { return in_step[static_cast<std::size_t>(r)] != 0; });
  };

  // The frontier: constant values the step reads. One that does not pay
  // sends its producer back to the step (to run there too, if the section
  // still needs it), which makes that node's inputs frontier values in turn;
  // repeat until every frontier value folds.
  ConstantSection section;
  std::vector<std::string> left;  // each node goes back to the step once
  for (bool changed = true; changed;) {
    changed = false;
    section = {};
    for (int index : order) {
      if (!constant[static_cast<std::size_t>(index)] || in_step[static_cast<std::size_t>(index)]) continue;
      for (int out : g.nodes[static_cast<std::size_t>(index)].outputs) {
        if (!read_by_step(out)) continue;
        const uint64_t bytes = g.values[static_cast<std::size_t>(out)].bytes();
        // Appends, not "literal" + std::string: GCC 12 at -O3 reports a false -Wrestrict.
        std::string why;
        if (bytes > kMaxFoldedValueBytes) {
          why = "over the limit of a folded value, ";
          why += std::to_string(kMaxFoldedValueBytes);
        } else if (section.bytes + workspace_aligned(bytes) > kMaxConstantBytes) {
          why = "past the limit of a recipe's constants, ";
          why += std::to_string(kMaxConstantBytes);
        }
        if (trivial[static_cast<std::size_t>(index)] || !why.empty()) {
          if (!why.empty()) left.push_back(describe(g, out) + " (" + std::to_string(bytes) + " bytes): " + why);
          in_step[static_cast<std::size_t>(index)] = 1;
          changed = true;
          break;
        }
        section.offsets.push_back(section.bytes);
        section.values.push_back(out);
        section.bytes += workspace_aligned(bytes);
      }
    }
  }
  for (const std::string& l : left) log.push_back("constant_fold: computed by every launch, " + l);
  if (section.empty()) return {};

  // The section: what the folded values need, producers first.
  std::vector<char> needed(nodes, 0);
  std::vector<int> stack;
  for (int v : section.values) stack.push_back(g.values[static_cast<std::size_t>(v)].producer);
  while (!stack.empty()) {
    const int index = stack.back();
    stack.pop_back();
    if (needed[static_cast<std::size_t>(index)]) continue;
    needed[static_cast<std::size_t>(index)] = 1;
    for (const View& in : g.nodes[static_cast<std::size_t>(index)].inputs) {
      stack.push_back(g.values[static_cast<std::size_t>(in.value)].producer);
    }
  }
  std::vector<int> step;
  std::vector<std::pair<std::string, int>> ops;  // by first appearance
  for (int index : order) {
    const std::size_t i = static_cast<std::size_t>(index);
    if (needed[i]) {
      section.order.push_back(index);
      const std::string name(op_name(g.nodes[i].op));
      auto it = std::find_if(ops.begin(), ops.end(), [&](const auto& o) { return o.first == name; });
      if (it == ops.end()) ops.emplace_back(name, 1);
      else ++it->second;
    }
    if (in_step[i] || !needed[i]) step.push_back(index);
  }
  order.swap(step);

  std::ostringstream line;
  line << "constant_fold: " << section.order.size() << (section.order.size() == 1 ? " node (" : " nodes (");
  for (std::size_t i = 0; i < ops.size(); ++i) {
    line << (i == 0 ? "" : ", ") << ops[i].first;
    if (ops[i].second > 1) line << " x" << ops[i].second;
  }
  line << ") \u2192 " << section.values.size() << (section.values.size() == 1 ? " constant, " : " constants, ")
       << section.bytes << " bytes";
  log.push_back(line.str());
  return section;
}

}  // namespace kiln::runtime
