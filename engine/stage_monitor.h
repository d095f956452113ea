// engine/stage_monitor.h: every stage's compute time per micro-batch, exchanged every K steps,
// against what its blocks cost when the run started.
//
// Each rank adds up what it ran: per block, the forward and backward ms of each micro-batch and
// the bytes the block passed on; per stage and step, its whole compute (forward + backward, with
// any slowdown, the loss included). Every K steps (--monitor-every) one all-reduce of that small
// vector gives every rank the same window, with no star through one rank. A stage's compute in a
// window is the median over its steps of the compute per micro-batch: a change shows once it
// holds for half the window, and one odd step (a page fault, a neighbour's burst) shows nothing.
//
// The first window with data is the reference: it fixes each block's cost per micro-batch, and
// each stage's overhead, what it spends beyond its blocks (the loss, receiving gradients onto
// the device, bookkeeping), which stays with the stage when blocks move. A later window's
// slowdown of a stage is its compute per micro-batch over the reference cost of what it holds now
// (its blocks' costs plus its overhead), so it stays meaningful after blocks move: the slowdown
// belongs to the rank, not to the blocks. A rank slowed from the start is the reference; the
// interference predictor is the way to see that case.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "partitioner/plan.h"
#include "partitioner/profile.h"

namespace repipe {

// One exchanged window, the same on every rank.
struct MonitorWindow {
  std::int64_t step = 0;            // its last step
  std::vector<double> compute_ms;   // [stage] compute per micro-batch, median of steps (0: none)
  std::vector<double> expected_ms;  // [stage] reference cost of the stage's blocks per micro-batch
  std::vector<double> slowdown;     // [stage] compute_ms / expected_ms; 1 where not known
};

class StageMonitor {
 public:
  using AllReduceSum = std::function<void(std::vector<double>&)>;

  // Windows of `every` steps; a window ends at every multiple of `every` and at the run's end.
  StageMonitor(int stages, std::int64_t blocks, std::int64_t every);

  // One micro-batch of block `block` on this rank.
  void add_block(std::int64_t block, double forward_ms, double backward_ms,
                 std::int64_t output_bytes);
  // Step `step` of this rank's stage: its compute and micro-batches.
  void add_stage(int stage, std::int64_t step, double compute_ms, std::int64_t microbatches);

  // Sums the window over all ranks (collective: every rank calls it with the same plan), starts
  // the next window and returns this one. The plan says which blocks each stage holds now.
  MonitorWindow exchange(std::int64_t step, const Plan& plan, const AllReduceSum& all_reduce_sum);
  // Drops what the window holds so far: blocks moved, and a window under two plans would
  // compare one plan's compute with the other's costs. Every rank calls it at the same step.
  void discard_window();

  // The reference costs as a profile (forward and backward ms per micro-batch, output bytes per
  // micro-batch; parameter and activation bytes left 0), once the first window is in.
  const std::optional<Profile>& reference() const { return reference_; }
  // [stage] the reference overhead per micro-batch, once the first window is in.
  const std::vector<double>& reference_overhead_ms() const { return overhead_ms_; }

 private:
  int stages_;
  std::int64_t blocks_;
  std::int64_t every_;
  // [forward, backward, bytes, count] x blocks, then [compute, micro-batches] x steps of the
  // window x stages.
  std::vector<double> window_;
  std::optional<Profile> reference_;
  std::vector<double> overhead_ms_;
};

}  // namespace repipe
