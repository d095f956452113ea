// engine/stage_slowdown_model.cc: stage features from block features, predictions per rank.
#include "engine/stage_slowdown_model.h"

#include <algorithm>

#include "common/error.h"

namespace repipe {

StageSlowdownModel::StageSlowdownModel(SlowdownPredictor predictor,
                                       std::vector<BlockFeatures> blocks, Profile reference,
                                       int ranks)
    : predictor_(std::move(predictor)),
      blocks_(std::move(blocks)),
      reference_(std::move(reference)),
      latest_(static_cast<std::size_t>(ranks)),
      at_reference_(static_cast<std::size_t>(ranks)) {
  REPIPE_CHECK(blocks_.size() == reference_.blocks.size(),
               "stage slowdown model: " << blocks_.size() << " block features for "
                                        << reference_.blocks.size() << " profiled blocks");
}

void StageSlowdownModel::set_load(int rank, const LoadFeatures& load) {
  const auto r = static_cast<std::size_t>(rank);
  REPIPE_CHECK(r < latest_.size(), "stage slowdown model: rank " << rank);
  latest_[r] = load;
  if (!at_reference_[r]) at_reference_[r] = load;
}

ProbeFeatures StageSlowdownModel::stage_features(std::int64_t first, std::int64_t last) const {
  REPIPE_CHECK(first >= 0 && first <= last && last < static_cast<std::int64_t>(blocks_.size()),
               "stage slowdown model: blocks " << first << "-" << last);
  double alone_ms = 0;
  for (std::int64_t b = first; b <= last; ++b) {
    const BlockProfile& block = reference_.blocks[static_cast<std::size_t>(b)];
    alone_ms += block.forward_ms + block.backward_ms;
  }
  return stage_probe_features(blocks_, static_cast<std::size_t>(first),
                              static_cast<std::size_t>(last), std::max(alone_ms, 1e-6));
}

double StageSlowdownModel::predict(int rank, std::int64_t first, std::int64_t last) const {
  const std::optional<LoadFeatures>& load = latest_.at(static_cast<std::size_t>(rank));
  if (!load) return 1;
  return predictor_.predict_slowdown(stage_features(first, last), *load);
}

double StageSlowdownModel::predict_change(int rank, std::int64_t first, std::int64_t last) const {
  const auto r = static_cast<std::size_t>(rank);
  if (!latest_.at(r)) return 1;
  const ProbeFeatures stage = stage_features(first, last);
  const double now = predictor_.predict_slowdown(stage, *latest_[r]);
  const double then = predictor_.predict_slowdown(stage, *at_reference_[r]);
  return then > 0 ? now / then : 1;
}

}  // namespace repipe
