// Graph capture and replay, as HPU Graphs and CUDA Graphs do it: record the
// ops of a step once, compile them once, then launch the whole step again
// and again for the host cost of one launch.
//
//   rt.capture_begin();                 // flushes pending lazy work first
//   Tensor y = model(x);                // recorded, not run (x: a device tensor)
//   CapturedGraph g = rt.capture_end().value();
//   for (...) {
//     rt.copy_from_host(x, batch.data(), bytes);   // inputs change in place
//     g.replay();                                  // y is rewritten in place
//     ... y.to_host() ...
//   }
//
// Semantics:
// - One capture at a time per runtime. Every op recorded while it is open,
//   by any thread and in either mode, goes into it (as lazy recording);
//   mark_step() inside it is a no-op: the capture is one graph.
// - Static shapes. Inputs are the device tensors the captured ops read that
//   existed before the capture; a replay reads their memory as it is then
//   (update them in place: Runtime::copy_, Runtime::copy_from_host).
// - Outputs are the tensors made during the capture that are alive at
//   capture_end: each keeps one block of device memory that every replay
//   rewrites. capture_end runs nothing: they hold their values after the
//   first replay.
// - What cannot be captured fails with "<op> is not supported during graph
//   capture": a read to the host (and so any data-dependent branch), an
//   immediate copy, synchronize. The capture is then discarded — the tensors
//   it made read as lost — and the runtime stays usable.
// - A replay resubmits the compiled recipe's command buffers with their
//   bindings (no re-encoding, no compilation) and is charged on the host
//   timeline as one recipe launch.
//
// Threading: a CapturedGraph may be replayed from any thread; calls are
// serialised by its runtime. It keeps its runtime's state (and its inputs'
// and outputs' memory) alive; once the runtime is closed, replay fails.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/runtime/tensor.h"

namespace kiln::runtime {

class Runtime;

struct CaptureOptions {
  // Keep the graph's workspace (its intermediates) allocated between
  // replays (fastest), or take it from the pool at each replay and give it
  // back after (less memory held while not replaying: outputs only).
  bool keep_workspace = true;
};

class CapturedGraph {
 public:
  CapturedGraph() = default;

  // Launches the captured step once more. Waits (on the device) for the
  // inputs' writers and the outputs' readers of earlier replays.
  Status replay();

  // Binding updates, without recapturing or compiling: the input `from` (a
  // tensor the capture read) is `to` from now on. `to` must have the same
  // shape and dtype and be a whole tensor holding memory.
  Status rebind_input(const Tensor& from, const Tensor& to);

  // Updates this graph from `newer`, a capture of the same topology (the same
  // ops over the same shapes and dtypes, in the same order), as
  // cudaGraphExecUpdate does: its inputs and scalar parameters (a constant's
  // value, an op's attributes) take effect; this graph's outputs keep their
  // memory. A different topology is refused naming the first node that
  // differs, and this graph is left as it was.
  Status update(const CapturedGraph& newer);

  // The captured step's outputs (alive at capture_end), in the order they
  // were made.
  const std::vector<Tensor>& outputs() const;
  // Ops captured, and the replays so far.
  std::size_t ops() const;
  uint64_t replays() const;
  bool empty() const { return state_ == nullptr; }

  struct State;
  explicit CapturedGraph(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

struct GraphedOptions {
  // Graphs kept (one per input signature); a call with a new signature past
  // this many runs the callable lazily instead (counted in fallbacks()).
  std::size_t max_graphs = 8;
  // Return fresh copies of the static outputs instead of the static outputs
  // themselves (which the next call overwrites).
  bool return_copies = false;
  CaptureOptions capture;
};

// A callable run as captured graphs: per input signature (shapes and
// dtypes) the first call captures `fn` over static input tensors; every call
// copies its inputs into the static inputs (on the device), replays, and
// returns the static outputs. Aliasing: without return_copies, the tensors
// returned by one call are overwritten by the next call of the same
// signature. `fn` must be capturable (see above) and return only tensors it
// made. Not thread-safe (one caller at a time).
class GraphedCallable {
 public:
  using Fn = std::function<Result<std::vector<Tensor>>(const std::vector<Tensor>&)>;
  GraphedCallable(Runtime& runtime, Fn fn, GraphedOptions options = {});

  Result<std::vector<Tensor>> operator()(const std::vector<Tensor>& inputs);

  std::size_t graphs() const { return graphs_.size(); }
  uint64_t fallbacks() const { return fallbacks_; }

 private:
  struct Entry {
    std::vector<Tensor> static_inputs;
    CapturedGraph graph;
    std::vector<Tensor> outputs;
  };
  Runtime& runtime_;
  Fn fn_;
  GraphedOptions options_;
  std::map<std::string, Entry> graphs_;
  uint64_t fallbacks_ = 0;
};

}  // namespace kiln::runtime
