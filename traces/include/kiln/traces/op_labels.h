// Op labels: which model op(s) each packet of a command buffer implements,
// so that trace events can say "this job was layer3.matmul" and analyses can
// answer "which op took the time" (kiln/traces/analysis.h).
//
// A command buffer records labels beside its packets, never in them: the
// packet format is shared with the device and carries no names. The driver
// builds an OpLabels while recording (CommandBuffer::label) and hands the
// device a shared, immutable pointer to it with each submission; the
// command processor looks up the label of every packet that starts an
// engine job or waits, and the job's trace events carry it (`ops`).
//
// A label is a list of op names: one for a plain job, several for a fused
// one (a GEMM with its bias and activation epilogue implements three ops).
// Empty names are dropped; an empty list means "no label".
//
// Immutable once shared; reading is thread-safe. Writing (add) is for the
// recording owner only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::traces {

struct OpLabels {
  static constexpr uint32_t kNone = UINT32_MAX;
  // Packets starting at byte `offset` or later (up to the next run) carry
  // labels[label], or nothing when label == kNone. By offset, increasing.
  struct Run {
    uint64_t offset = 0;
    uint32_t label = kNone;
  };
  std::vector<Run> runs;
  std::vector<std::vector<std::string>> labels;

  bool empty() const { return runs.empty(); }

  // Labels the packets from byte `offset` on with `ops` (nothing when empty).
  void add(uint64_t offset, std::vector<std::string> ops) {
    std::erase(ops, std::string());
    uint32_t label = kNone;
    if (!ops.empty()) {
      // Consecutive runs often repeat a label (a label per packet): share it.
      if (!labels.empty() && labels.back() == ops) {
        label = static_cast<uint32_t>(labels.size() - 1);
      } else {
        labels.push_back(std::move(ops));
        label = static_cast<uint32_t>(labels.size() - 1);
      }
    }
    // A label set twice before any packet: the later one wins.
    if (!runs.empty() && runs.back().offset == offset) runs.pop_back();
    if (runs.empty() ? label == kNone : runs.back().label == label) return;
    runs.push_back({offset, label});
  }

  // The ops of the packet at byte `offset`, or null when it has none.
  const std::vector<std::string>* at(uint64_t offset) const {
    auto it = std::upper_bound(runs.begin(), runs.end(), offset,
                               [](uint64_t o, const Run& r) { return o < r.offset; });
    if (it == runs.begin()) return nullptr;
    --it;
    return it->label == kNone ? nullptr : &labels[it->label];
  }
};

}  // namespace kiln::traces
