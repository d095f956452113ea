// engine/stage_slowdown_model.h: the slowdown predictor (profiler/slowdown_predictor.h) behind
// the replanner's StageSlowdownFn and the monitor's predictions.csv.
//
// A candidate stage [first, last] is scored as the interference dataset's probes were: its
// features are the sum of its blocks' (FLOPs, bytes, parameters and operator counts, measured
// once on the model at the micro-batch size), its time alone is the monitor's reference cost of
// those blocks, and the load is the rank's latest LoadMeter reading. Ranks share a machine with
// each other, so a rank's load never reads as zero: what the replanner uses is a ratio of two
// predictions under one load (candidate over current stage), and what the monitor compares
// with the measured slowdown is the prediction under the load now over the prediction under
// the load of the reference window.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "partitioner/profile.h"
#include "profiler/block_features.h"
#include "profiler/interference_data.h"
#include "profiler/slowdown_predictor.h"

namespace repipe {

class StageSlowdownModel {
 public:
  // `blocks`: per-block features (measure_block_features); `reference`: per-block forward and
  // backward ms per micro-batch at normal speed (StageMonitor::reference()); `ranks`: how many.
  StageSlowdownModel(SlowdownPredictor predictor, std::vector<BlockFeatures> blocks,
                     Profile reference, int ranks);

  // The load measured on `rank` over the last window. The first one a rank gets is also its
  // reference load (the monitor's reference window).
  void set_load(int rank, const LoadFeatures& load);

  // Blocks [first, last] as one stage on `rank`: the predicted slowdown under its latest load
  // (1 before any load is known).
  double predict(int rank, std::int64_t first, std::int64_t last) const;
  // The same under the latest load over the same under the reference load: the slowdown the
  // monitor should measure against its reference window.
  double predict_change(int rank, std::int64_t first, std::int64_t last) const;

  ProbeFeatures stage_features(std::int64_t first, std::int64_t last) const;

 private:
  SlowdownPredictor predictor_;
  std::vector<BlockFeatures> blocks_;
  Profile reference_;
  std::vector<std::optional<LoadFeatures>> latest_, at_reference_;
};

}  // namespace repipe
