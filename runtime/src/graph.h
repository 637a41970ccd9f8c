// The runtime's graph: what lazy mode records, and what the compiler turns
// into a recipe. Every tensor is a view over a root value: a dense buffer
// produced by one node output, or an external input (memory that exists). A
// node's inputs are views (shape, strides, offset over a root); its outputs
// are fresh dense roots. Recording computes nothing.
//
// Internal to kiln_runtime. A Graph is single-threaded; the runtime guards
// the pending one.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/driver/device.h"
#include "kiln/driver/event.h"
#include "kiln/runtime/runtime.h"
#include "kiln/runtime/shape.h"
#include "op_kind.h"

namespace kiln::runtime {

class MemoryPool;

// The hardware queues a recipe runs on.
enum Queue : uint32_t { kMmeQueue = 0, kTpcQueue = 1, kDmaQueue = 2, kQueueCount = 3 };
// Per queue, the event after the last launch that touched a block there.
using LastUses = std::array<std::shared_ptr<driver::Event>, kQueueCount>;

// A block of device memory from the runtime's pool. Freed (returned to the
// pool) when the last tensor and recipe launch using it are gone.
struct Storage {
  driver::DeviceBuffer buffer;
  uint64_t bytes = 0;
  MemoryPool* pool = nullptr;
  // The device work that writes it: later work on other queues waits for
  // this event (null: ready). Set by the launch that produces it.
  std::shared_ptr<driver::Event> ready;
  uint32_t ready_queue = 0;
  uint64_t step = 0;  // the runtime step that wrote it (0: a copy from the host)
  // Per queue, the event after which no work of the launches that used it
  // remains there: the pool hands the block out again with these, and the
  // launch that writes it first waits for them.
  LastUses last_uses;
  ~Storage();
};

// One root value, shared by a tensor and all its views.
struct Slot {
  Shape shape;  // dense, row-major
  DType dtype = DType::kF32;
  std::shared_ptr<Storage> storage;  // set once materialized
  uint64_t graph = 0;                // the pending graph that produces it (0: none)
  int value = -1;                    // its value index there
  bool dynamic_batch = false;        // dim 0 is a batch that bucketing may pad
  int dynamic_sequence_dim = -1;     // a sequence dim that bucketing may pad (-1: none)
};

struct TensorImpl {
  // First, so the slot (and its storage, which returns to the owner's pool)
  // goes before the owner can.
  std::shared_ptr<Runtime::Impl> owner;
  std::shared_ptr<Slot> slot;
  Shape shape;
  Shape strides;       // elements
  int64_t offset = 0;  // elements from the root's first element
  DType dtype = DType::kF32;
};

// A node's view of a value.
struct View {
  int value = -1;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::kF32;
  bool contiguous() const { return offset == 0 && strides == contiguous_strides(shape); }
  // A [N, C, H, W] view of memory laid out densely as [N, H, W, C] (the
  // NCHW permute of an NHWC tensor): what the MME reads as a channels-last
  // convolution input. Dims of size 1 may have any stride.
  bool channels_last() const;
};

struct Attrs {
  std::vector<int64_t> ints;
  std::vector<double> floats;
  bool operator==(const Attrs&) const = default;
};

struct Node {
  OpKind op = OpKind::kCopy;
  Attrs attrs;
  std::vector<View> inputs;
  std::vector<int> outputs;  // value ids
  std::string label;         // for traces: the op(s) this node implements
  // 0, or the non-fusable custom-op composition that recorded it (a number
  // per call in its graph): fusion merges only nodes of one group.
  uint32_t fusion_group = 0;
};

struct Value {
  Shape shape;
  DType dtype = DType::kF32;
  int producer = -1;                 // node index; -1: external input
  std::shared_ptr<Slot> external;    // external: keeps its memory alive until launch
  std::weak_ptr<Slot> slot;          // produced: live while a tensor refers to it
  // A packed input (compiler-made, no producer): these external values
  // stacked along dim 0, built by the launch (fuse_shared_input_gemms).
  std::vector<int> packed_from;
  // A value in parts (compiler-made, slicing.h): no producer of its own; the
  // values `parts` hold its rows, each written by its own producer, and a
  // reader of the whole waits for all of them. A part is `part_of`'s
  // elements from `part_offset` on, dense, in that value's memory.
  std::vector<int> parts;
  int part_of = -1;
  int64_t part_offset = 0;  // elements
  uint64_t bytes() const { return static_cast<uint64_t>(numel(shape)) * dtype_size(dtype); }
};

// A 128-bit running hash of what a graph records: two independent 64-bit
// mixes, so that finding a cached recipe costs no pass over the graph.
struct GraphHash {
  uint64_t a = 0xcbf29ce484222325ull, b = 0x9e3779b97f4a7c15ull;
  void mix(uint64_t x) {
    a = (a ^ x) * 0x100000001b3ull;
    uint64_t z = b + x + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    b = z ^ (z >> 31);
  }
  void mix(double x);
  void mix(std::string_view s);
  void mix(const Shape& s) {
    mix(static_cast<uint64_t>(s.size()));
    for (int64_t d : s) mix(static_cast<uint64_t>(d));
  }
  bool operator==(const GraphHash&) const = default;
};

struct GraphHashOf {
  std::size_t operator()(const GraphHash& h) const { return static_cast<std::size_t>(h.a ^ (h.b << 1)); }
};

struct Graph {
  uint64_t id = 0;
  GraphHash hash;  // of every node and external input, as recorded
  std::vector<Node> nodes;
  std::vector<Value> values;
  std::unordered_map<const Slot*, int> external_of;
  uint32_t fusion_groups = 0;  // non-fusable compositions recorded so far (Node::fusion_group)
  // Whether node labels are part of `hash` (and of the signature's key). An
  // eager op's one-node graph leaves them out: the same op in every layer of
  // a model is one recipe, launched under each op's own label.
  bool labels_in_key = true;

  bool empty() const { return nodes.empty(); }
  // Empties the graph for reuse under a new id (keeping its buffers).
  void reset(uint64_t new_id);
  // Recomputes `hash` from the values and nodes (after a rewrite).
  void rehash();
  // The value of an input slot: its producing value if pending in this
  // graph, else an external value for its memory.
  int input_value(const std::shared_ptr<Slot>& slot);
  // Adds a node producing fresh values of these metas; returns their ids.
  std::vector<int> add_node(OpKind op, Attrs attrs, std::vector<View> inputs,
                            const std::vector<std::pair<Shape, DType>>& outputs, std::string label);
};

}  // namespace kiln::runtime
