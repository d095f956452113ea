// Tests of the emulated model: blocks sleep at least their scaled times in forward and in
// backward, pass tensors and hold parameters of their scaled sizes, and train end to end on
// synthetic batches.
#include "profiler/emulated_model.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "common/error.h"
#include "datasets/synthetic.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

const std::string kProfiles = std::string(REPIPE_SOURCE_DIR) + "/configs/profiles/";

// Three blocks profiled at batch 8; times sum to 300 ms, 30 ms at time_scale 0.1.
Profile three_blocks() {
  Profile profile;
  profile.device = "cuda:0";
  profile.batch_size = 8;
  profile.precision = "fp32";
  profile.blocks = {{"toy.a", 40, 50, 3200, 4000, 3200},
                    {"toy.b", 60, 40, 1600, 0, 1600},
                    {"toy.c", 50, 60, 640, 100, 640}};
  return profile;
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

class EmulatedModelFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() /
              ("repipe_emulated_test_" +
               std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(folder_);
    fs::create_directories(folder_);
  }
  void TearDown() override { fs::remove_all(folder_); }

  fs::path folder_;
};

TEST_F(EmulatedModelFiles, SleepsAtLeastTheScaledTimesInForwardAndBackward) {
  std::string path = (folder_ / "toy.csv").string();
  const Profile toy = three_blocks();
  save_profile_csv(toy, path);
  const double time_scale = 0.1;
  Model model = build_emulated_model(path, time_scale, /*bytes_scale=*/1, /*seed=*/1);
  EXPECT_EQ(model.name, "emulated:" + path);
  ASSERT_EQ(model.blocks.size(), 3u);

  double forward_ms = 0, backward_ms = 0;
  for (const BlockProfile& block : toy.blocks) {
    forward_ms += block.forward_ms * time_scale;
    backward_ms += block.backward_ms * time_scale;
  }
  Batch batch = synthetic_batch(model.sample, 4, /*seed=*/1, DataStream::kTrain, 0);
  const auto forward_start = std::chrono::steady_clock::now();
  Bundle output = model.forward(batch.inputs);
  double forward_wall = elapsed_ms(forward_start);
  torch::Tensor loss = model.loss(output, batch.targets);
  auto start = std::chrono::steady_clock::now();
  loss.backward();
  double backward_wall = elapsed_ms(start);
  const double total_wall = elapsed_ms(forward_start);
  // Lower bounds only: a busy machine may take longer, never shorter. Blocks run back to back
  // on the emulated device, so the whole run takes at least the sum; backward may begin up to
  // the hidden host gap (0.2 ms) early, when it is called that soon after forward ended.
  EXPECT_GE(total_wall, forward_ms + backward_ms);
  EXPECT_GE(total_wall, 30.0 - 1e-9);
  EXPECT_GE(forward_wall, forward_ms);
  EXPECT_GE(backward_wall, backward_ms - 0.2);
}

TEST(EmulatedModel, SizesFollowTheScaledProfile) {
  const double bytes_scale = 0.5;
  const Profile toy = three_blocks();
  Model model = build_emulated_model(toy, "emulated:toy", 0, bytes_scale, 1);
  const std::int64_t microbatch = 4;
  Bundle bundle{{"x", torch::randn({microbatch, kEmulatedInputFeatures})}};
  for (std::size_t i = 0; i < model.blocks.size(); ++i) {
    const BlockProfile& profile = toy.blocks[i];
    bundle = model.blocks[i]->forward(bundle);
    if (i + 1 < model.blocks.size()) {
      // Bytes per sample of the profiled batch of 8, scaled: 3200 * 0.5 / 4 / 8 = 50 floats.
      std::int64_t floats = profile.output_bytes / 2 / 4 / 8;
      EXPECT_EQ(bundle.at("x").sizes(), (std::vector<std::int64_t>{microbatch, floats}));
    } else {
      EXPECT_EQ(bundle.count("x"), 0u);
      EXPECT_EQ(bundle.at("logits").sizes(),
                (std::vector<std::int64_t>{microbatch, kEmulatedClasses}));
    }
    std::vector<NamedTensor> params = block_parameters(*model.blocks[i]);
    ASSERT_EQ(params.size(), 1u);
    EXPECT_EQ(params[0].name, profile.name + ".weight");
    // 4000 bytes -> 500 floats; 0 -> the one element backward needs; 100 -> 12.5 -> 13.
    std::int64_t expected = std::max<std::int64_t>(1, std::llround(profile.param_bytes * 0.5 / 4));
    EXPECT_EQ(params[0].tensor.numel(), expected) << profile.name;
    EXPECT_EQ(params[0].tensor.scalar_type(), torch::kFloat);
    EXPECT_FALSE(model.blocks[i]->draws_random_numbers());
  }
}

TEST(EmulatedModel, GradientsReachEveryParameter) {
  Model model = build_emulated_model(three_blocks(), "emulated:toy", 0, 1, 1);
  Batch batch = synthetic_batch(model.sample, 5, 3, DataStream::kTrain, 0);
  model.loss(model.forward(batch.inputs), batch.targets).backward();
  for (const NamedTensor& p : model.named_parameters()) {
    ASSERT_TRUE(p.tensor.grad().defined()) << p.name;
    EXPECT_EQ(p.tensor.grad().sizes(), p.tensor.sizes()) << p.name;
    EXPECT_TRUE(torch::isfinite(p.tensor.grad()).all().item<bool>()) << p.name;
    EXPECT_NE(p.tensor.grad()[0].item<float>(), 0.0f) << p.name;
  }
}

TEST(EmulatedModel, GradientOfTheInputMatchesFiniteDifferences) {
  Model model = build_emulated_model(three_blocks(), "emulated:toy", 0, 1, 1);
  torch::Tensor x = torch::randn({3, 6}, torch::kDouble);
  torch::Tensor grad_out = torch::randn({3, 50});
  auto block = model.blocks[1];
  auto apply = [&](const torch::Tensor& input) {
    return (block->forward({{"x", input.to(torch::kFloat)}}).at("x") * grad_out).sum();
  };
  torch::Tensor leaf = x.to(torch::kFloat).requires_grad_(true);
  apply(leaf).backward();
  // out = mean(x) * w0 is linear in x: one central difference is exact up to rounding.
  const double h = 0.5;
  for (std::int64_t j : {0, 4}) {
    torch::Tensor step = torch::zeros_like(x);
    step[1][j] = h;
    double numeric = (apply(x + step) - apply(x - step)).item<double>() / (2 * h);
    EXPECT_NEAR(leaf.grad()[1][j].item<double>(), numeric, 1e-3 * std::abs(numeric) + 1e-4);
  }
}

TEST(EmulatedModel, WeightsDependOnlyOnSeedAndName) {
  auto weights = [](std::uint64_t seed) {
    return build_emulated_model(three_blocks(), "emulated:toy", 0, 1, seed).named_parameters();
  };
  std::vector<NamedTensor> a = weights(7), b = weights(7), c = weights(8);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].tensor, b[i].tensor)) << a[i].name;
    if (a[i].tensor.numel() > 1) {
      EXPECT_FALSE(torch::equal(a[i].tensor, c[i].tensor)) << a[i].name;
    }
  }
}

TEST(EmulatedModel, RunsAPipeDreamGraphOfUnknownBatchSize) {
  std::string path = kProfiles + "pipedream-vgg16-graph.txt";
  Profile profile = load_profile(path);
  const double bytes_scale = 1e-5;
  Model model = build_emulated_model(path, /*time_scale=*/0, bytes_scale, 1);
  ASSERT_EQ(model.blocks.size(), profile.blocks.size());
  EXPECT_EQ(model.blocks[0]->block_name(), profile.blocks[0].name);
  // Batch size unknown: each forward sends the profiled bytes (scaled), whatever the micro-batch.
  const std::int64_t microbatch = 2;
  Bundle bundle{{"x", torch::randn({microbatch, kEmulatedInputFeatures})}};
  bundle = model.blocks[0]->forward(bundle);
  double floats = profile.blocks[0].output_bytes * bytes_scale / 4;
  EXPECT_EQ(bundle.at("x").size(1), std::llround(floats / microbatch));
  Batch batch = synthetic_batch(model.sample, microbatch, 1, DataStream::kTrain, 0);
  torch::Tensor loss = model.loss(model.forward(batch.inputs), batch.targets);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  loss.backward();
}

TEST(EmulatedModel, RejectsBadScales) {
  EXPECT_THROW(build_emulated_model(three_blocks(), "emulated:toy", -1, 1, 1), UsageError);
  EXPECT_THROW(build_emulated_model(three_blocks(), "emulated:toy", 1, 0, 1), UsageError);
  EXPECT_THROW(build_emulated_model(three_blocks(), "emulated:toy", std::nan(""), 1, 1),
               UsageError);
  EXPECT_THROW(build_emulated_model("/nonexistent/profile.csv", 1, 1, 1), UsageError);
}

}  // namespace
}  // namespace repipe
