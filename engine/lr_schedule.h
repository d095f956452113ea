// engine/lr_schedule.h: the learning rate of each step (constant, linear warm-up, cosine).
#pragma once

#include <cstdint>
#include <string>

namespace repipe {

struct LrSchedule {
  std::string kind = "constant";  // constant | warmup | cosine
  double peak = 0.01;
  double min_lr = 0.0;            // cosine: the rate at the last step
  std::int64_t warmup_steps = 0;  // warmup and cosine: linear ramp over these first steps
  std::int64_t total_steps = 1;

  // Learning rate of step `step` (1-based, as in metrics.csv).
  //   warm-up (step <= warmup_steps): peak * step / warmup_steps
  //   then constant or warmup: peak; cosine: min + (peak - min) * (1 + cos(pi * t)) / 2 with
  //   t = (step - warmup_steps) / (total_steps - warmup_steps), reaching min_lr at the last step.
  double at(std::int64_t step) const;
};

}  // namespace repipe
