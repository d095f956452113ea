// Tests of the stage slowdown model: a predictor trained on stages of four blocks under many
// loads scores candidate stages as the loads say (memory-bound blocks suffer more beside a
// memory-bound job), relative predictions are exactly 1 under the reference load, and a rank
// with no load yet is not slowed.
#include "engine/stage_slowdown_model.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

// Blocks 0-1 stream many bytes for few FLOPs; blocks 2-3 the other way round.
std::vector<BlockFeatures> four_blocks() {
  std::vector<BlockFeatures> blocks(4);
  for (int b = 0; b < 4; ++b) {
    const bool memory_bound = b < 2;
    blocks[b].flops = memory_bound ? 2e7 : 8e8;
    blocks[b].bytes = memory_bound ? 6e7 : 2e6;
    blocks[b].params = memory_bound ? 1e7 : 1e5;
    blocks[b].count_linear = memory_bound ? 1 : 0;
    blocks[b].count_conv = memory_bound ? 0 : 2;
    blocks[b].count_activation = 1;
  }
  return blocks;
}

Profile reference_profile() {
  Profile profile;
  for (int b = 0; b < 4; ++b) {
    BlockProfile block;
    block.name = "b";  // not "b" + std::to_string(b): GCC 12 warns falsely (-Wrestrict)
    block.name += std::to_string(b);
    block.forward_ms = 2 + b;
    block.backward_ms = 4 + 2 * b;
    profile.blocks.push_back(block);
  }
  return profile;
}

// The truth the predictor learns: memory contention hurts in proportion to the stage's bytes
// per millisecond, compute contention in proportion to its FLOPs per millisecond.
double true_slowdown(const ProbeFeatures& stage, const LoadFeatures& load) {
  const double memory_share = std::min(1.0, stage.gbps / 10);
  const double compute_share = std::min(1.0, stage.gflops / 100);
  return 1 + 2 * (1 - load.memory_fraction) * memory_share +
         1.5 * (1 - load.compute_fraction) * compute_share;
}

LoadFeatures load_with(double compute_fraction, double memory_fraction) {
  LoadFeatures load;
  load.compute_fraction = compute_fraction;
  load.memory_fraction = memory_fraction;
  load.cpu_util = 1 - std::min(compute_fraction, memory_fraction);
  return load;
}

StageSlowdownModel trained_model() {
  const std::vector<BlockFeatures> blocks = four_blocks();
  const Profile reference = reference_profile();
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> fraction(0.2, 1.0);
  std::vector<InterferenceRecord> records;
  for (int i = 0; i < 60; ++i) {
    const LoadFeatures load = load_with(fraction(rng), fraction(rng));
    for (std::size_t first = 0; first < 4; ++first) {
      for (std::size_t last = first; last < 4; ++last) {
        double alone_ms = 0;
        for (std::size_t b = first; b <= last; ++b) {
          alone_ms += reference.blocks[b].forward_ms + reference.blocks[b].backward_ms;
        }
        InterferenceRecord r;
        r.probe = "s";  // piece by piece: GCC 12 warns falsely on "s" + std::string
        r.probe += std::to_string(first);
        r.probe += '-';
        r.probe += std::to_string(last);
        r.kind = "memory";
        r.intensity = 1;
        r.corunners = 1;
        r.placement = "other";
        r.repeat = 0;
        r.probe_features = stage_probe_features(blocks, first, last, alone_ms);
        r.load = load;
        r.slowdown = true_slowdown(r.probe_features, load);
        records.push_back(r);
      }
    }
  }
  return StageSlowdownModel(SlowdownPredictor::train(records, PredictorOptions{}), blocks,
                            reference, 2);
}

TEST(StageSlowdownModel, ARankWithNoLoadYetIsNotSlowed) {
  StageSlowdownModel model = trained_model();
  EXPECT_EQ(model.predict(0, 0, 3), 1.0);
  EXPECT_EQ(model.predict_change(1, 0, 1), 1.0);
}

TEST(StageSlowdownModel, StageFeaturesSumTheBlocksAndTakeTheReferenceTime) {
  StageSlowdownModel model = trained_model();
  const ProbeFeatures stage = model.stage_features(1, 2);
  EXPECT_DOUBLE_EQ(stage.alone_ms, (3 + 6) + (4 + 8));
  EXPECT_NEAR(stage.gflop, (2e7 + 8e8) / 1e9, 1e-12);
  EXPECT_NEAR(stage.mbytes, (6e7 + 2e6) / 1e6, 1e-9);
  EXPECT_THROW(model.stage_features(2, 4), InternalError);
}

TEST(StageSlowdownModel, MemoryBoundBlocksSufferMoreBesideAMemoryBoundLoad) {
  StageSlowdownModel model = trained_model();
  const LoadFeatures memory_load = load_with(0.95, 0.3);
  model.set_load(0, memory_load);
  const double memory_stage = model.predict(0, 0, 1);
  const double compute_stage = model.predict(0, 2, 3);
  EXPECT_NEAR(memory_stage, true_slowdown(model.stage_features(0, 1), memory_load),
              0.05 * memory_stage);
  EXPECT_NEAR(compute_stage, true_slowdown(model.stage_features(2, 3), memory_load),
              0.05 * compute_stage);
  EXPECT_GT(memory_stage, 1.3 * compute_stage);

  const LoadFeatures compute_load = load_with(0.3, 0.95);
  model.set_load(1, compute_load);
  EXPECT_GT(model.predict(1, 2, 3), 1.3 * model.predict(1, 0, 1));
}

TEST(StageSlowdownModel, ChangeIsRelativeToTheFirstLoadARankReported) {
  StageSlowdownModel model = trained_model();
  const LoadFeatures reference = load_with(0.9, 0.9);
  model.set_load(0, reference);
  EXPECT_DOUBLE_EQ(model.predict_change(0, 0, 3), 1.0);

  const LoadFeatures later = load_with(0.9, 0.3);
  model.set_load(0, later);
  const ProbeFeatures stage = model.stage_features(0, 3);
  const double expected = true_slowdown(stage, later) / true_slowdown(stage, reference);
  EXPECT_NEAR(model.predict_change(0, 0, 3), expected,
              0.15 * expected);  // a ratio of two ~5% errors
  EXPECT_GT(model.predict_change(0, 0, 3), 1.2);
}

}  // namespace
}  // namespace repipe
