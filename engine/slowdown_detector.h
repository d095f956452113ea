// engine/slowdown_detector.h: which ranks run slow, from the monitor's windows, with hysteresis.
//
// The detector keeps a believed slowdown per rank (1 = as in the reference window). A window
// changes a rank's belief only when its measured slowdown differs from the belief by more than
// `trigger` (20%: one noisy window does not move anything); a new belief below 1 + `normal_band`
// snaps to exactly 1, so a recovered rank reads as normal and the original plan comes back.
// A window's median step sees a slowdown that starts at step t at the end of the first window
// that is half past t: within 1.5 K steps.
//
// After blocks move, the first window calibrates instead of detecting: the reference costs of a
// stage's new blocks err (fixed costs per block and per message are not additive, ~10% on
// emulated VGG16, more on sub-millisecond blocks), so the measured slowdown of a rank whose speed
// did not change moves anyway. That window's measured over believed slowdown becomes the rank's
// model error, which later windows divide out; a recovered rank then reads as normal. An error
// beyond `max_model_error` is no model's: the speed changed in that window, and it is detected.
#pragma once

#include <string>
#include <vector>

#include "engine/stage_monitor.h"
#include "partitioner/plan.h"

namespace repipe {

struct DetectorOptions {
  double trigger = 0.2;          // relative change of a rank's slowdown that counts
  double max_model_error = 3.0;  // a calibration beyond this factor is a speed change
  double normal_band = 0.3;      // slowdowns below 1 + this are normal (DynPipe: below 2)
};

class SlowdownDetector {
 public:
  explicit SlowdownDetector(int ranks, DetectorOptions options = {});

  // Reads a window (its stages run on `plan`'s ranks); true when some belief changed. A stage
  // that ran nothing in the window tells nothing.
  bool update(const MonitorWindow& window, const Plan& plan);
  // Blocks moved: the next window with news of a rank calibrates it (see above).
  void calibrate_next();

  // [rank] the believed slowdown (compute time over normal).
  const std::vector<double>& slowdown() const { return slowdown_; }
  // What the last update() changed: "rank 1 slowed 2.49x", "rank 1 back to normal", joined by
  // ", ".
  const std::string& change() const { return change_; }

 private:
  DetectorOptions options_;
  std::vector<double> slowdown_;
  std::vector<double> model_error_;  // [rank] measured / true slowdown under the current plan
  std::vector<bool> calibrating_;    // [rank]
  std::string change_;
};

}  // namespace repipe
