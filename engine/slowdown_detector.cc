#include "engine/slowdown_detector.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/error.h"

namespace repipe {

SlowdownDetector::SlowdownDetector(int ranks, DetectorOptions options)
    : options_(options),
      slowdown_(static_cast<std::size_t>(ranks), 1.0),
      model_error_(static_cast<std::size_t>(ranks), 1.0),
      calibrating_(static_cast<std::size_t>(ranks), false) {
  REPIPE_CHECK(options.trigger > 0 && options.normal_band >= 0, "detector: bad options");
}

bool SlowdownDetector::update(const MonitorWindow& window, const Plan& plan) {
  change_.clear();
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    if (window.compute_ms[s] <= 0) continue;
    for (int rank : plan.stages[s].ranks) {
      const auto r = static_cast<std::size_t>(rank);
      double& believed = slowdown_[r];
      if (calibrating_[r]) {
        calibrating_[r] = false;
        const double error = window.slowdown[s] / believed;
        if (std::abs(std::log(error)) <= std::log(options_.max_model_error)) {
          model_error_[r] = error;
          continue;
        }
        model_error_[r] = 1;  // more than a model errs by: the speed changed, detect it
      }
      const double measured = window.slowdown[s] / model_error_[r];
      if (std::abs(std::log(measured / believed)) <= std::log1p(options_.trigger)) continue;
      // Faster than the reference is normal too: a device does not beat its own clean speed,
      // so such a reading is the reference's or the model's error.
      const bool normal = measured <= 1 + options_.normal_band;
      if (normal && believed == 1) continue;
      believed = normal ? 1.0 : measured;
      char text[64];
      if (normal) {
        std::snprintf(text, sizeof(text), "rank %d back to normal", rank);
      } else {
        std::snprintf(text, sizeof(text), "rank %d slowed %.2fx", rank, measured);
      }
      change_ += change_.empty() ? std::string(text) : std::string(", ") + text;
    }
  }
  return !change_.empty();
}

void SlowdownDetector::calibrate_next() {
  std::fill(calibrating_.begin(), calibrating_.end(), true);
}

}  // namespace repipe
