// engine/block_clock.h: what each block of a stage cost for one micro-batch.
//
// Forward is timed around each block's call. Backward is one autograd call over the whole
// stage, so the clock hooks each block's output: the hook fires when that output's gradient is
// complete, i.e. when the next block's backward has finished. The marks split the call into
// per-block times. Timestamps are taken on the host, which is exact on the CPU; on a GPU they
// would see kernel launches, not kernels (device events are the GPU path's way).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "models/model.h"

namespace repipe {

class BlockClock {
 public:
  using Clock = std::chrono::steady_clock;

  explicit BlockClock(std::size_t blocks);

  // Block `block` ran its forward in `ms` and produced `output` (the next block's input).
  void forward_done(std::size_t block, double ms, const Bundle& output);
  // The stage's backward call ran from `start` to `end`: sets backward_ms(). Blocks between two
  // marks that never fired (an output without gradient) share their interval in the ratio of
  // their forward times.
  void backward_done(Clock::time_point start, Clock::time_point end);

  const std::vector<double>& forward_ms() const { return forward_ms_; }
  const std::vector<double>& backward_ms() const { return backward_ms_; }
  const std::vector<std::int64_t>& output_bytes() const { return output_bytes_; }

 private:
  std::vector<double> forward_ms_;
  std::vector<double> backward_ms_;
  std::vector<std::int64_t> output_bytes_;
  // [i]: when the gradient of block i's output was complete (the latest of its tensors' hooks);
  // shared with the hooks, which may outlive this clock inside autograd's graph.
  std::shared_ptr<std::vector<Clock::time_point>> marks_;
};

}  // namespace repipe
