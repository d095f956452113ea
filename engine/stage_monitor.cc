#include "engine/stage_monitor.h"

#include <algorithm>

#include "common/error.h"

namespace repipe {
namespace {

enum Field { kForward, kBackward, kBytes, kCount, kBlockFields };
enum StageField { kCompute, kMicrobatches, kStageFields };

// The median (the mean of the middle two for an even count); 0 for none.
double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

StageMonitor::StageMonitor(int stages, std::int64_t blocks, std::int64_t every)
    : stages_(stages),
      blocks_(blocks),
      every_(every),
      window_(static_cast<std::size_t>(kBlockFields * blocks + kStageFields * every * stages),
              0.0) {}

void StageMonitor::add_block(std::int64_t block, double forward_ms, double backward_ms,
                             std::int64_t output_bytes) {
  double* b = &window_[static_cast<std::size_t>(kBlockFields * block)];
  b[kForward] += forward_ms;
  b[kBackward] += backward_ms;
  b[kBytes] += static_cast<double>(output_bytes);
  b[kCount] += 1;
}

void StageMonitor::add_stage(int stage, std::int64_t step, double compute_ms,
                             std::int64_t microbatches) {
  const std::int64_t slot = stage * every_ + (step - 1) % every_;
  double* s = &window_[static_cast<std::size_t>(kBlockFields * blocks_ + kStageFields * slot)];
  s[kCompute] += compute_ms;
  s[kMicrobatches] += static_cast<double>(microbatches);
}

MonitorWindow StageMonitor::exchange(std::int64_t step, const Plan& plan,
                                     const AllReduceSum& all_reduce_sum) {
  REPIPE_CHECK(static_cast<int>(plan.stages.size()) == stages_, "monitor: plan has other stages");
  all_reduce_sum(window_);
  auto block = [&](std::int64_t b, Field f) {
    return window_[static_cast<std::size_t>(kBlockFields * b + f)];
  };
  auto slot = [&](int s, std::int64_t i, StageField f) {
    return window_[static_cast<std::size_t>(kBlockFields * blocks_ +
                                            kStageFields * (s * every_ + i) + f)];
  };
  MonitorWindow window;
  window.step = step;
  bool complete = true;  // every block and stage ran: the window can be the reference
  for (int s = 0; s < stages_; ++s) {
    std::vector<double> per_microbatch;
    for (std::int64_t i = 0; i < every_; ++i) {
      const double count = slot(s, i, kMicrobatches);
      if (count > 0) per_microbatch.push_back(slot(s, i, kCompute) / count);
    }
    window.compute_ms.push_back(median(per_microbatch));
    complete = complete && !per_microbatch.empty();
  }
  for (std::int64_t b = 0; b < blocks_; ++b) complete = complete && block(b, kCount) > 0;

  if (!reference_ && complete) {
    Profile reference;
    for (std::int64_t b = 0; b < blocks_; ++b) {
      BlockProfile& p = reference.blocks.emplace_back();
      p.name = "block" + std::to_string(b);
      p.forward_ms = block(b, kForward) / block(b, kCount);
      p.backward_ms = block(b, kBackward) / block(b, kCount);
      p.output_bytes = static_cast<std::int64_t>(block(b, kBytes) / block(b, kCount));
    }
    for (int s = 0; s < stages_; ++s) {
      const StagePlan& sp = plan.stages[static_cast<std::size_t>(s)];
      double blocks_ms = 0;
      for (std::int64_t b = sp.first_block; b <= sp.last_block; ++b) {
        blocks_ms += reference.blocks[b].forward_ms + reference.blocks[b].backward_ms;
      }
      overhead_ms_.push_back(
          std::max(0.0, window.compute_ms[static_cast<std::size_t>(s)] - blocks_ms));
    }
    reference_ = std::move(reference);
  }

  for (int s = 0; s < stages_; ++s) {
    const StagePlan& sp = plan.stages[static_cast<std::size_t>(s)];
    double expected = reference_ ? overhead_ms_[static_cast<std::size_t>(s)] : 0.0;
    for (std::int64_t b = sp.first_block; reference_ && b <= sp.last_block; ++b) {
      expected += reference_->blocks[b].forward_ms + reference_->blocks[b].backward_ms;
    }
    const double compute = window.compute_ms[static_cast<std::size_t>(s)];
    window.expected_ms.push_back(expected);
    window.slowdown.push_back(expected > 0 && compute > 0 ? compute / expected : 1.0);
  }
  discard_window();
  return window;
}

void StageMonitor::discard_window() {
  std::fill(window_.begin(), window_.end(), 0.0);
}

}  // namespace repipe
