// What a command processor's work waits for, as trace ids (docs/traces.md):
// the `waits_for` of every engine job it dispatches and every wait it makes,
// and what its signal packets and retirement stand for when another queue
// waits on them.
//
// The frontier is the set of ids everything the queue dispatches from now
// on is ordered after:
// - a submission begins after the host call that submitted it and after the
//   events the queue's previous submission ended with;
// - an engine barrier that waited for jobs puts those jobs in the frontier in
//   place of what their own waits_for already cover;
// - a wait that took time (a traced event) replaces the frontier (its own
//   waits_for holds the frontier and what released it); one that took no
//   time adds what released it.
//
// Ids are never 0; 0 (an untraced job or host call) is never added.
// Simulation thread only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace kiln::sim {

class QueueDependencies {
 public:
  using Ids = std::vector<uint64_t>;

  // A submission begins: `submitted_by` is the host call that made it.
  void begin_submission(uint64_t submitted_by) {
    frontier_ = previous_;
    add(frontier_, submitted_by);
    jobs_.clear();
    covered_.clear();
  }

  // An engine job `job` is dispatched: what it waits for.
  const Ids& dispatch(uint64_t job) {
    if (job == 0) return frontier_;
    if (jobs_.empty()) covered_ = frontier_;  // what the first job since the barrier covers
    jobs_.push_back(job);
    return frontier_;
  }

  // An engine barrier waited for every job dispatched so far.
  void barrier_passed() {
    if (jobs_.empty()) return;
    Ids next = std::move(jobs_);
    for (uint64_t id : frontier_) {
      if (std::find(covered_.begin(), covered_.end(), id) == covered_.end()) add(next, id);
    }
    frontier_ = std::move(next);
    jobs_.clear();
    covered_.clear();
  }

  // What the command processor's position in the queue is ordered after
  // (what a wait beginning now, or a signal packet posted now, stands after).
  const Ids& frontier() const { return frontier_; }

  // The waits_for of a wait released by `releasers`.
  Ids wait_deps(const Ids& releasers) const {
    Ids deps = frontier_;
    for (uint64_t id : releasers) add(deps, id);
    return deps;
  }

  // A wait ended: traced as event `id` (0: it took no time and was not
  // traced), released by `releasers`.
  void waited(uint64_t id, const Ids& releasers) {
    if (id != 0) {
      frontier_.assign(1, id);
      return;
    }
    for (uint64_t r : releasers) add(frontier_, r);
  }

  // The submission's work is done (every job ended): the events it ended
  // with, which the next submission and anyone waiting for it wait for.
  const Ids& end_submission() {
    barrier_passed();
    previous_ = frontier_;
    return previous_;
  }

 private:
  static void add(Ids& ids, uint64_t id) {
    if (id != 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }

  Ids frontier_;
  Ids jobs_;      // dispatched since the last engine barrier
  Ids covered_;   // the frontier when the first of them was dispatched
  Ids previous_;  // what the previous submission ended with
};

}  // namespace kiln::sim
