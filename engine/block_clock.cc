#include "engine/block_clock.h"

#include <algorithm>

namespace repipe {

BlockClock::BlockClock(std::size_t blocks)
    : forward_ms_(blocks, 0.0),
      backward_ms_(blocks, 0.0),
      output_bytes_(blocks, 0),
      marks_(std::make_shared<std::vector<Clock::time_point>>(blocks)) {}

void BlockClock::forward_done(std::size_t block, double ms, const Bundle& output) {
  forward_ms_[block] = ms;
  output_bytes_[block] = bundle_bytes(output);
  if (block + 1 == forward_ms_.size()) return;  // the stage's output: its gradient starts the call
  for (const auto& [name, tensor] : output) {
    if (!tensor.requires_grad()) continue;
    tensor.register_hook([marks = marks_, block](const torch::Tensor&) {
      (*marks)[block] = std::max((*marks)[block], Clock::now());
    });
  }
}

void BlockClock::backward_done(Clock::time_point start, Clock::time_point end) {
  // Boundaries in reverse block order: at[n] = start, at[i + 1] = mark of block i's output
  // (the end of block i + 1's backward), at[0] = end. Block i ran from at[i + 1] to at[i].
  const std::size_t n = forward_ms_.size();
  std::vector<Clock::time_point> at(n + 1);
  at[0] = end;
  at[n] = start;
  for (std::size_t i = 0; i + 1 < n; ++i) at[i + 1] = (*marks_)[i];
  const Clock::time_point unset{};
  std::size_t upper = 0;  // the latest boundary seen, walking towards the call's start
  for (std::size_t k = 1; k <= n; ++k) {
    if (at[k] == unset || at[k] < start || at[k] > end) continue;
    // Blocks upper..k-1 ran between at[k] and at[upper]; share by forward time.
    const double ms =
        std::max(0.0, std::chrono::duration<double, std::milli>(at[upper] - at[k]).count());
    double forward = 0;
    for (std::size_t b = upper; b < k; ++b) forward += forward_ms_[b];
    for (std::size_t b = upper; b < k; ++b) {
      backward_ms_[b] =
          forward > 0 ? ms * forward_ms_[b] / forward : ms / static_cast<double>(k - upper);
    }
    upper = k;
  }
}

}  // namespace repipe
