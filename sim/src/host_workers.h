// Plain host threads that large functional copies and fills are split over.
//
// A copy's first write to device memory faults in fresh pages, and on a VM
// that costs far more than the copy itself (see docs/performance.md); split
// into pieces, those faults proceed on every core at once. Simulated time
// does not move meanwhile: the engine process that asked simply waits.
//
// Items run on ordinary threads (never TBB, nothing recursive), and on the
// calling thread too, so the work finishes even when no worker gets a core
// (the machine is shared). A plain memcpy or memset on the SystemC coroutine
// stack of the caller is as safe as it was before the split.
//
// Thread-safe. Items must be independent of one another.
#pragma once

#include <cstddef>
#include <functional>

namespace kiln::sim {

// Runs item(i) for every i in [0, count) and returns once all have run.
void run_on_host_workers(std::size_t count, const std::function<void(std::size_t)>& item);

// How many threads run_on_host_workers uses, the caller included.
std::size_t host_worker_threads();

}  // namespace kiln::sim
