// Tests of block features: FLOPs of layers whose count is known by hand, operator counts, and a
// stage's features as the sum of its blocks'.
#include <gtest/gtest.h>

#include "common/error.h"
#include "models/zoo.h"
#include "profiler/block_features.h"
#include "profiler/block_profiler.h"

namespace repipe {
namespace {

constexpr std::int64_t kBatch = 4;

Profile quick_profile(Model& model) {
  ProfileOptions options;
  options.batch_size = kBatch;
  options.repeats = 1;
  options.warmup = 0;
  return profile_model(model, options);
}

TEST(BlockFeaturesTest, MlpBlockIsOneLinearAndOneReluWithExactFlops) {
  Model model = build_model("mlp", {});
  Profile profile = quick_profile(model);
  std::vector<BlockFeatures> blocks = measure_block_features(model, profile, kBatch, 1);
  ASSERT_EQ(blocks.size(), model.blocks.size());
  // fc1: 32 -> 64 with bias; a multiply-add is two FLOPs; backward twice the forward.
  EXPECT_DOUBLE_EQ(blocks[0].flops, 3.0 * 2 * kBatch * 32 * 64);
  EXPECT_DOUBLE_EQ(blocks[0].params, 32 * 64 + 64);
  EXPECT_EQ(blocks[0].count_linear, 1);
  EXPECT_EQ(blocks[0].count_activation, 1);
  EXPECT_EQ(blocks[0].count_conv, 0);
  EXPECT_DOUBLE_EQ(blocks[0].bytes, profile.blocks[0].param_bytes +
                                        profile.blocks[0].activation_bytes +
                                        profile.blocks[0].output_bytes);
  // The last block (64 -> 10) has no activation.
  EXPECT_DOUBLE_EQ(blocks.back().flops, 3.0 * 2 * kBatch * 64 * 10);
  EXPECT_EQ(blocks.back().count_activation, 0);
}

TEST(BlockFeaturesTest, CnnBlocksCountTheirOperatorsOnceAndConvolutionFlopsExactly) {
  Model model = build_model("small_cnn", {});
  Profile profile = quick_profile(model);
  std::vector<BlockFeatures> blocks = measure_block_features(model, profile, kBatch, 1);
  ASSERT_EQ(blocks.size(), 5u);
  // conv1: 3 -> 8 channels, 3x3, padding 1, no bias, on 32x32: one multiply-add per output
  // element and kernel tap.
  EXPECT_DOUBLE_EQ(blocks[0].flops, 3.0 * 2 * kBatch * (8 * 32 * 32) * (3 * 3 * 3));
  for (int i = 0; i < 4; ++i) {  // conv, batch norm, ReLU; pooling from conv2 on
    EXPECT_EQ(blocks[i].count_conv, 1) << i;
    EXPECT_EQ(blocks[i].count_norm, 1) << i;
    EXPECT_EQ(blocks[i].count_activation, 1) << i;
    EXPECT_EQ(blocks[i].count_pool, i == 0 ? 0 : 1) << i;
    EXPECT_EQ(blocks[i].count_linear, 0) << i;
  }
  EXPECT_EQ(blocks[4].count_pool, 1);  // the head: adaptive pooling and one linear layer
  EXPECT_EQ(blocks[4].count_linear, 1);
  EXPECT_EQ(blocks[4].count_conv, 0);
}

TEST(BlockFeaturesTest, TransformerCountsOneSoftmaxPerAttentionAndItsEmbedding) {
  Model model = build_model("bert-tiny", {});
  Profile profile = quick_profile(model);
  std::vector<BlockFeatures> blocks = measure_block_features(model, profile, kBatch, 1);
  int attention = 0;
  int embedding = 0;
  for (const BlockFeatures& b : blocks) {
    attention += b.count_attention;
    embedding += b.count_embedding;
  }
  EXPECT_EQ(attention, 2);  // bert-tiny: two layers
  EXPECT_GE(embedding, 1);
}

TEST(BlockFeaturesTest, StageFeaturesAreTheSumOfItsBlocks) {
  std::vector<BlockFeatures> blocks(3);
  for (int i = 0; i < 3; ++i) {
    blocks[i].flops = 1e9 * (i + 1);
    blocks[i].bytes = 1e6 * (i + 1);
    blocks[i].params = 1e6;
    blocks[i].count_linear = 1;
    blocks[i].count_attention = i;
  }
  ProbeFeatures stage = stage_probe_features(blocks, 1, 2, /*alone_ms=*/500);
  EXPECT_DOUBLE_EQ(stage.gflop, 5);
  EXPECT_DOUBLE_EQ(stage.mbytes, 5);
  EXPECT_DOUBLE_EQ(stage.mparams, 2);
  EXPECT_EQ(stage.count_linear, 2);
  EXPECT_EQ(stage.count_attention, 3);
  EXPECT_DOUBLE_EQ(stage.alone_ms, 500);
  EXPECT_DOUBLE_EQ(stage.gflops, 10);  // 5 GFLOP in 0.5 s
  EXPECT_DOUBLE_EQ(stage.gbps, 0.01);  // 5 MB in 0.5 s
}

TEST(BlockFeaturesTest, ProfileOfAnotherModelIsRefused) {
  Model mlp = build_model("mlp", {});
  Model cnn = build_model("small_cnn", {});
  Profile profile = quick_profile(cnn);
  EXPECT_THROW(measure_block_features(mlp, profile, kBatch, 1), UsageError);
}

}  // namespace
}  // namespace repipe
