#include "engine/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "common/error.h"

namespace repipe {

double LrSchedule::at(std::int64_t step) const {
  REPIPE_CHECK(step >= 1, "steps count from 1");
  if (kind == "constant") return peak;
  if (step <= warmup_steps)
    return peak * static_cast<double>(step) / static_cast<double>(warmup_steps);
  if (kind == "warmup") return peak;
  REPIPE_CHECK(kind == "cosine", "unknown learning-rate schedule " << kind);
  double span = static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
  double t = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
  return min_lr + (peak - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * t));
}

}  // namespace repipe
