// Tests of the GPU allocator on hand-checked cases (two models sharing a GPU, the 1 + I/100
// factor, a rate split over two GPUs, the baselines, DeInfer's merge and a rate change), the
// Infeasible cases, and the repository, load, plan and interference files.
//
// The models here run at share m in T(b, 100%)·100/m (time slicing), profiled at every whole
// share so no lookup interpolates; MaxD comes from queueing.h (checked in queueing_test.cc).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "common/infeasible.h"
#include "inference/allocation.h"
#include "inference/gpu_allocator.h"
#include "inference/interference_model.h"
#include "inference/model_repository.h"
#include "inference/queueing.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// A model whose batch of b takes full_ms[b]·100/m ms at share m. `tag` is its G (the stub
// predictor below tells models apart by it).
ModelEntry scaled_model(const std::string& name, double slo_ms,
                        const std::vector<std::pair<int, double>>& full_ms, double tag = 1) {
  ModelEntry entry;
  entry.config.name = name;
  entry.config.task = "test";
  entry.config.slo_ms = slo_ms;
  std::vector<RuntimePoint> points;
  for (const auto& [b, ms] : full_ms) {
    entry.config.batch_sizes.push_back(b);
    entry.config.features.push_back({b, tag, 1});
    for (int m = 1; m <= 100; ++m) points.push_back({b, m, ms * 100 / m});
  }
  entry.runtime = RuntimeProfile(points);
  return entry;
}

// I = points[G of the target] when it has co-runners, 0 otherwise.
class TaggedInterference : public InterferenceModel {
 public:
  explicit TaggedInterference(std::map<double, double> points) : points_(std::move(points)) {}
  double interference_points(const Tenant& target,
                             const std::vector<Tenant>& corunners) const override {
    if (corunners.empty()) return 0;
    auto it = points_.find(target.gflops);
    return it == points_.end() ? 0 : it->second;
  }
  std::string describe() const override { return "tagged"; }

 private:
  std::map<double, double> points_;
};

// a: batch 1 takes 3 ms, batch 4 5.8 ms on a whole GPU; b: batch 2 4 ms, batch 8 20 ms.
ModelRepository two_models() {
  ModelRepository repository;
  repository.add(scaled_model("a", 50, {{1, 3}, {4, 5.8}}, 1));
  repository.add(scaled_model("b", 100, {{2, 4}, {8, 20}}, 2));
  return repository;
}

const std::vector<ModelLoad> kTwoLoads = {{"a", 100, 50}, {"b", 50, 100}};

template <typename Fn>
std::string infeasible_message(Fn&& fn) {
  try {
    fn();
  } catch (const Infeasible& e) {
    return e.what();
  }
  return "no Infeasible";
}

template <typename Fn>
std::string usage_message(Fn&& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no UsageError";
}

TEST(GpuAllocator, TwoModelsShareOneGpuAtTheSmallestSharesByHand) {
  // a: λ = 100/s, S = 50 ms: MaxD = 8.074176 ms, 0.95·MaxD = 7.670467 ms.
  //   batch 1: D = 300/m <= 7.670467 needs m >= 39.11: 40.
  //   batch 4: D = 145/m needs m >= 18.9, but the batch must finish in S/2: 580/m <= 25 needs
  //   m >= 23.2: 24 (D = 6.0417). Batch 4 at 24% wins.
  // b: λ = 50/s, S = 100 ms: MaxD = 16.148352 ms, 0.95·MaxD = 15.340934 ms.
  //   batch 2: D = 200/m needs m >= 13.04: 14 (a batch: 28.6 ms <= 50).
  //   batch 8: D = 250/m needs m >= 16.3, its batch 2000/m <= 50 needs m >= 40: 40. Batch 2 at 14%.
  // Both fit on GPU 0 (best fit keeps GPU 1 empty): 24 + 14 = 38%.
  const ModelRepository repository = two_models();
  const NoInterference none;
  const Allocation plan = allocate(repository, kTwoLoads, 2, AllocationPolicy::kDeinfer, none);
  ASSERT_EQ(plan.models.size(), 2u);
  const ModelAllocation& a = plan.models[0];
  const ModelAllocation& b = plan.models[1];
  ASSERT_EQ(a.placements.size(), 1u);
  ASSERT_EQ(b.placements.size(), 1u);
  EXPECT_EQ(a.placements[0].gpu, 0);
  EXPECT_EQ(a.placements[0].batch_size, 4);
  EXPECT_EQ(a.placements[0].share, 24);
  EXPECT_NEAR(a.placements[0].item_time_ms, 145.0 / 24, 1e-12);
  EXPECT_NEAR(a.placements[0].max_item_time_ms, 8.0741759, 1e-6);
  EXPECT_EQ(b.placements[0].gpu, 0);
  EXPECT_EQ(b.placements[0].batch_size, 2);
  EXPECT_EQ(b.placements[0].share, 14);
  EXPECT_NEAR(b.placements[0].latency_ms, 400.0 / 14, 1e-12);
  EXPECT_NEAR(b.placements[0].max_item_time_ms, 16.148352, 1e-6);
  EXPECT_DOUBLE_EQ(b.placements[0].rate_per_s, 50);
  EXPECT_EQ(plan.gpu_shares(), (std::vector<int>{38, 0}));
  EXPECT_EQ(plan.gpus_used(), 1);
  EXPECT_TRUE(plan.meets_slo());
  EXPECT_EQ(plan.policy, "deinfer");
  EXPECT_EQ(plan.predictor, "none");
}

TEST(GpuAllocator, InterferenceScalesLatencyByOnePlusIOver100) {
  EXPECT_DOUBLE_EQ(slowdown_factor(25), 1.25);
  // b suffers I = 25 points beside a (a suffers none). a goes first (larger demand): batch 4 at
  // 24%, alone. b beside it: f = 1 + 25/100 = 1.25, batch 2: D = 200·1.25/m <= 15.340934 needs
  // m >= 16.3: 17, its batch 400·1.25/17 = 29.4 ms <= 50. (DeInfer's 1 + I = 26 would need
  // m >= 339: no GPU could hold it.)
  const ModelRepository repository = two_models();
  const TaggedInterference interference(std::map<double, double>{{2.0, 25.0}});
  const Allocation plan =
      allocate(repository, kTwoLoads, 1, AllocationPolicy::kDeinfer, interference);
  const Placement& a = plan.models[0].placements.at(0);
  const Placement& b = plan.models[1].placements.at(0);
  EXPECT_EQ(a.share, 24);
  EXPECT_DOUBLE_EQ(a.slowdown, 1);
  EXPECT_EQ(b.gpu, 0);
  EXPECT_EQ(b.batch_size, 2);
  EXPECT_EQ(b.share, 17);
  EXPECT_DOUBLE_EQ(b.slowdown, 1.25);
  EXPECT_NEAR(b.item_time_ms, 400.0 / 17 * 1.25 / 2, 1e-12);
  EXPECT_TRUE(b.meets_slo);
  EXPECT_EQ(plan.gpu_shares(), (std::vector<int>{41}));
}

TEST(GpuAllocator, GreedyIgnoresInterferenceAndItsPlanIsScoredWithIt) {
  // Greedy decides with f = 1: b at 14% as if alone. Scored with I = 25: D = 200·1.25/14 =
  // 17.86 ms > MaxD = 16.15 ms: the plan misses b's SLO, where deinfer's (17%) meets it.
  const ModelRepository repository = two_models();
  const TaggedInterference interference(std::map<double, double>{{2.0, 25.0}});
  const Allocation greedy =
      allocate(repository, kTwoLoads, 1, AllocationPolicy::kGreedy, interference);
  const Placement& b = greedy.models[1].placements.at(0);
  EXPECT_EQ(b.share, 14);
  EXPECT_NEAR(b.item_time_ms, 200 * 1.25 / 14, 1e-12);
  EXPECT_FALSE(b.meets_slo);
  EXPECT_FALSE(greedy.meets_slo());
  EXPECT_EQ(greedy.policy, "greedy");
  EXPECT_EQ(greedy.predictor, "tagged");
  EXPECT_TRUE(
      allocate(repository, kTwoLoads, 1, AllocationPolicy::kDeinfer, interference).meets_slo());
}

TEST(GpuAllocator, AResidentsBoundKeepsANewModelOffItsGpu) {
  // Both suffer I = 25 beside each other. b would fit GPU 0 at 17%, but then a's batch would take
  // 5.8·100/24·1.25 = 30.2 ms > S/2 = 25: b goes to GPU 1, alone, at 14%.
  const ModelRepository repository = two_models();
  const TaggedInterference interference(std::map<double, double>{{1.0, 25.0}, {2.0, 25.0}});
  const Allocation plan =
      allocate(repository, kTwoLoads, 2, AllocationPolicy::kDeinfer, interference);
  EXPECT_EQ(plan.models[0].placements.at(0).gpu, 0);
  EXPECT_EQ(plan.models[1].placements.at(0).gpu, 1);
  EXPECT_EQ(plan.models[1].placements.at(0).share, 14);
  EXPECT_TRUE(plan.meets_slo());
  // On one GPU there is no room that keeps both bounds.
  const std::string message = infeasible_message(
      [&] { allocate(repository, kTwoLoads, 1, AllocationPolicy::kDeinfer, interference); });
  EXPECT_NE(message.find("model 'b'"), std::string::npos) << message;
  EXPECT_NE(message.find("keeping its own bound"), std::string::npos) << message;
}

TEST(GpuAllocator, ALoadBeyondOneGpuIsSplitByTheRateEachGpuCarries) {
  // c: batch 1 takes 2 ms, batch 4 4 ms on a whole GPU; λ = 1500/s, S = 40 ms.
  // Whole: MaxD(1500/s) = 80 / (62 + √3604) = 0.655559 ms < 1 ms (batch 4 at 100%): no GPU holds
  // it. Part: GPU 0 at 100%, batch 4, D = 1 ms, serves MaxRate(1/0.95, 40) = (40 − 2.105263) /
  // (1.052632·38.947368)·1000 = 924.3243/s. The rest, 575.6757/s, whole on GPU 1:
  // MaxD = 80 / (25.027027 + √534.2440) = 1.661793 ms, 0.95·MaxD = 1.578703: batch 4 needs
  // 100/m <= 1.578703, m >= 63.3: 64% (batch 1 would need 127%).
  ModelRepository repository;
  repository.add(scaled_model("c", 40, {{1, 2}, {4, 4}}));
  const std::vector<ModelLoad> loads = {{"c", 1500, 40}};
  const NoInterference none;
  const Allocation plan = allocate(repository, loads, 2, AllocationPolicy::kDeinfer, none);
  const std::vector<Placement>& p = plan.models.at(0).placements;
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].gpu, 0);
  EXPECT_EQ(p[0].share, 100);
  EXPECT_EQ(p[0].batch_size, 4);
  EXPECT_NEAR(p[0].rate_per_s, 924.3243243, 1e-6);
  EXPECT_EQ(p[1].gpu, 1);
  EXPECT_EQ(p[1].share, 64);
  EXPECT_EQ(p[1].batch_size, 4);
  EXPECT_NEAR(p[1].rate_per_s, 575.6756757, 1e-6);
  EXPECT_NEAR(p[1].max_item_time_ms, 1.661793, 1e-6);
  EXPECT_NEAR(plan.models[0].served_rate_per_s(), 1500, 1e-9);
  EXPECT_TRUE(plan.meets_slo());
  EXPECT_EQ(plan.gpu_shares(), (std::vector<int>{100, 64}));

  // One GPU: infeasible, naming what is left and what the load needs: 1500 / MaxRate(1 ms) =
  // 1500 / 974.36 = 1.54 GPUs' worth.
  const std::string message =
      infeasible_message([&] { allocate(repository, loads, 1, AllocationPolicy::kDeinfer, none); });
  EXPECT_NE(message.find("model 'c' (rate 1500.00/s, SLO 40.00 ms): the 1 GPUs cannot serve it"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("575.68/s of its rate is left"), std::string::npos) << message;
  EXPECT_NE(message.find("about 1.54 GPUs' worth"), std::string::npos) << message;
  EXPECT_NEAR(full_gpu_demand(*repository.find("c"), 1500, 40), 1500 / 974.358974, 1e-6);
}

TEST(GpuAllocator, InfeasibleSloAndMissingProfileNameTheConstraint) {
  ModelRepository repository;
  repository.add(scaled_model("c", 40, {{1, 2}, {4, 4}}));
  ModelEntry unprofiled = scaled_model("u", 40, {{1, 2}});
  unprofiled.runtime.reset();
  repository.add(unprofiled);
  const NoInterference none;
  // S = 3 ms: the fastest batch (batch 1, 2 ms) exceeds S/2 = 1.5 ms even alone.
  std::string message = infeasible_message([&] {
    allocate(repository, {{"c", 10, 3}}, 4, AllocationPolicy::kDeinfer, none);
  });
  EXPECT_NE(message.find("the SLO is below what the model needs: its fastest batch (batch size "
                         "1) takes 2.000 ms alone on a whole GPU, and a batch must finish "
                         "within half the SLO (1.500 ms)"),
            std::string::npos)
      << message;
  message = infeasible_message([&] {
    allocate(repository, {{"u", 10, 40}}, 1, AllocationPolicy::kEven, none);
  });
  EXPECT_NE(message.find("model 'u' has no runtime profile"), std::string::npos) << message;
  // A model with rate 0 needs nothing, profile or not.
  const Allocation idle = allocate(repository, {{"u", 0, 40}}, 1, AllocationPolicy::kDeinfer, none);
  EXPECT_TRUE(idle.models.at(0).placements.empty());
}

TEST(GpuAllocator, EvenSplitsGpusEquallyWhateverTheRates) {
  const ModelRepository repository = [] {
    ModelRepository r = two_models();
    r.add(scaled_model("c", 40, {{1, 2}, {4, 4}}));
    return r;
  }();
  const NoInterference none;
  // Three models on two GPUs: a and b share GPU 0 at 50% each, c has GPU 1. At 50%, a's batch 4
  // takes 11.6 ms (2.9 ms an item, within S/2), b's batch 2 8 ms (4 ms an item; batch 8 would be
  // 5 ms an item).
  const std::vector<ModelLoad> three = {{"a", 100, 50}, {"b", 50, 100}, {"c", 300, 40}};
  const Allocation even = allocate(repository, three, 2, AllocationPolicy::kEven, none);
  EXPECT_EQ(even.models[0].placements.at(0).gpu, 0);
  EXPECT_EQ(even.models[0].placements.at(0).share, 50);
  EXPECT_EQ(even.models[0].placements.at(0).batch_size, 4);
  EXPECT_EQ(even.models[1].placements.at(0).gpu, 0);
  EXPECT_EQ(even.models[1].placements.at(0).share, 50);
  EXPECT_EQ(even.models[1].placements.at(0).batch_size, 2);
  EXPECT_EQ(even.models[2].placements.at(0).gpu, 1);
  EXPECT_EQ(even.models[2].placements.at(0).share, 100);
  EXPECT_EQ(even.gpu_shares(), (std::vector<int>{100, 100}));
  // Two models on three GPUs: a gets GPUs 0 and 1 whole, its rate split evenly (same throughput).
  const Allocation wide = allocate(repository, kTwoLoads, 3, AllocationPolicy::kEven, none);
  ASSERT_EQ(wide.models[0].placements.size(), 2u);
  EXPECT_DOUBLE_EQ(wide.models[0].placements[0].rate_per_s, 50);
  EXPECT_DOUBLE_EQ(wide.models[0].placements[1].rate_per_s, 50);
  EXPECT_EQ(wide.models[1].placements.at(0).gpu, 2);
  // Eleven models on one GPU: 9% each, below the 10% smallest share.
  ModelRepository many;
  std::vector<ModelLoad> loads;
  for (char name = 'a'; name < 'a' + 11; ++name) {
    many.add(scaled_model(std::string(1, name), 40, {{1, 1}}));
    loads.push_back({std::string(1, name), 1, 40});
  }
  const std::string message =
      infeasible_message([&] { allocate(many, loads, 1, AllocationPolicy::kEven, none); });
  EXPECT_NE(message.find("an even split gives 11 models a GPU and each 9% of it, below the "
                         "smallest share (10%)"),
            std::string::npos)
      << message;
}

TEST(GpuAllocator, MergeSumsTheSharesOfAModelOnOneGpu) {
  // Two processes of b on GPU 0 (20% batch 2, 30% batch 8) and one on GPU 1: the merge gives
  // GPU 0 one process of 20 + 30 = 50% (DeInfer's shadowed loop variable gave 2 x 30 = 60%),
  // batch 8 (the larger) and both rates; GPU 1's stays apart.
  const ModelRepository repository = two_models();
  Allocation plan;
  plan.policy = "deinfer";
  plan.gpus = 2;
  ModelAllocation b{"b", 60, 100, {}};
  b.placements.push_back({0, 20, 2, 20});
  b.placements.push_back({0, 30, 8, 30});
  b.placements.push_back({1, 10, 2, 10});
  plan.models.push_back(b);
  const Allocation merged = merge_placements(plan, repository, NoInterference());
  const std::vector<Placement>& p = merged.models.at(0).placements;
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].gpu, 0);
  EXPECT_EQ(p[0].share, 50);
  EXPECT_EQ(p[0].batch_size, 8);
  EXPECT_DOUBLE_EQ(p[0].rate_per_s, 50);
  EXPECT_NEAR(p[0].latency_ms, 2000.0 / 50, 1e-12);  // re-scored at the merged share
  EXPECT_EQ(p[1].gpu, 1);
  EXPECT_EQ(p[1].share, 10);
  EXPECT_EQ(merged.gpu_shares(), (std::vector<int>{50, 10}));
}

TEST(GpuAllocator, ReallocateMovesOnlyTheModelWhoseRateChanged) {
  // b's rate doubles to 100/s: MaxD = 200 / (12 + √104) = 9.009805 ms, 0.95·MaxD = 8.559315:
  // batch 2 needs 200/m <= 8.559315, m >= 23.4: 24%. a stays where it was (batch 4, 24%).
  const ModelRepository repository = two_models();
  const NoInterference none;
  const Allocation before = allocate(repository, kTwoLoads, 1, AllocationPolicy::kDeinfer, none);
  const Allocation after =
      reallocate_model(before, repository, {"b", 100, 100}, AllocationPolicy::kDeinfer, none);
  EXPECT_EQ(after.models[0].placements.at(0).share, 24);
  EXPECT_EQ(after.models[0].placements.at(0).batch_size, 4);
  EXPECT_EQ(after.models[1].placements.at(0).share, 24);
  EXPECT_EQ(after.models[1].placements.at(0).batch_size, 2);
  EXPECT_DOUBLE_EQ(after.models[1].rate_per_s, 100);
  EXPECT_EQ(after.loads()[1].rate_per_s, 100);
  EXPECT_TRUE(after.meets_slo());
  // Even keeps its shares and splits the new rate over them.
  const Allocation even = allocate(repository, kTwoLoads, 3, AllocationPolicy::kEven, none);
  const Allocation even_after =
      reallocate_model(even, repository, {"a", 300, 50}, AllocationPolicy::kEven, none);
  EXPECT_EQ(even_after.models[0].placements.size(), 2u);
  EXPECT_DOUBLE_EQ(even_after.models[0].placements[1].rate_per_s, 150);
}

TEST(GpuAllocator, BadOptionsAreUsageErrors) {
  const ModelRepository repository = two_models();
  const NoInterference none;
  EXPECT_NE(usage_message([&] {
              allocate(repository, kTwoLoads, 0, AllocationPolicy::kDeinfer, none);
            }).find("--gpus"),
            std::string::npos);
  AllocatorOptions options;
  options.margin = 1.5;
  EXPECT_NE(usage_message([&] {
              allocate(repository, kTwoLoads, 1, AllocationPolicy::kDeinfer, none, options);
            }).find("--margin"),
            std::string::npos);
  EXPECT_NE(usage_message([] {
              parse_allocation_policy("fair", "flag --policy");
            }).find("flag --policy: expected deinfer, even or greedy, got 'fair'"),
            std::string::npos);
}

// ---- Interference model -----------------------------------------------------------------------

TEST(InterferenceModel, DeinferOnAchievedRatesInPercentagePoints) {
  // c2 = 1e-3; the co-runner runs at half speed: G·L = (0.5·10)·(0.5·5) = 12.5, slowdown
  // 1 + 1e-3·12.5 = 1.0125: I = 1.25 points.
  const DeinferInterference model(DeinferModel{1, 0, 1e-3}, "test");
  const Tenant target{10, 4, 1, 50};
  const Tenant corunner{10, 5, 0.5, 30};
  EXPECT_NEAR(model.interference_points(target, {corunner}), 1.25, 1e-12);
  EXPECT_EQ(model.interference_points(target, {}), 0);  // alone: the profile itself
  // Own G·L counts through c1: (1·10)·(1·4) = 40, 1 + 0.01·40 = 1.4: 40 points.
  EXPECT_NEAR(
      DeinferInterference(DeinferModel{1, 0.01, 0}, "t").interference_points(target, {corunner}),
      40, 1e-9);
  // A prediction below 1 is no speed-up.
  EXPECT_EQ(
      DeinferInterference(DeinferModel{0.5, 0, 0}, "t").interference_points(target, {corunner}), 0);
  EXPECT_EQ(model.describe(), "deinfer c0=1 c1=0 c2=0.001 (test)");
}

class AllocatorFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("repipe_allocator_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  fs::path dir_;
};

TEST_F(AllocatorFiles, InterferenceCoefficientsComeFromThePredictorTheRepositoryOrTheDefault) {
  EXPECT_EQ(load_interference_model(dir_.string(), "")->describe(),
            "deinfer c0=1 c1=0 c2=1e-06 (default)");
  write(dir_ / "interference.toml", interference_toml(DeinferModel{1.02, 2e-4, 5e-6}, "a fit"));
  const auto from_repo = load_interference_model(dir_.string(), "");
  EXPECT_EQ(from_repo->coefficients().c0, 1.02);
  EXPECT_EQ(from_repo->coefficients().c2, 5e-6);
  EXPECT_NE(from_repo->describe().find("from " + (dir_ / "interference.toml").string()),
            std::string::npos);
  EXPECT_NE(usage_message([&] {
              load_interference_model(dir_.string(), (dir_ / "none").string());
            }).find("no such predictor folder"),
            std::string::npos);
  write(dir_ / "interference.toml",
        "format = \"repipe-interference\"\nversion = 1\n[deinfer]\nc0 = 1\n");
  EXPECT_NE(usage_message([&] {
              load_interference_model(dir_.string(), "");
            }).find("interference.toml:3: deinfer.c1: expected a number (the key is missing)"),
            std::string::npos)
      << usage_message([&] { load_interference_model(dir_.string(), ""); });
}

// ---- Repository, load and plan files
// -------------------------------------------------------------

TEST_F(AllocatorFiles, RepositoryRoundTripsAndInterpolatesBetweenProfiledShares) {
  ModelEntry entry;
  entry.config.name = "toy";
  entry.config.task = "image classification";
  entry.config.batch_sizes = {1, 4};
  entry.config.input_shape = {3, 8, 8};
  entry.config.output_shape = {10};
  entry.config.slo_ms = 20;
  entry.config.features = {{1, 12.5, 3.25}, {4, 30, 7}};
  entry.config.provenance = ProfileProvenance{"cpu", "scaled", "test"};
  entry.runtime = RuntimeProfile({{1, 10, 8}, {1, 20, 4}, {1, 100, 1}, {4, 50, 6}, {4, 100, 3}});
  save_model_entry(entry, (dir_ / "repo").string());
  const ModelRepository repository = ModelRepository::load((dir_ / "repo").string());
  ASSERT_EQ(repository.models().size(), 1u);
  const ModelEntry& loaded = *repository.find("toy");
  EXPECT_EQ(loaded.config.batch_sizes, entry.config.batch_sizes);
  EXPECT_EQ(loaded.config.input_shape, entry.config.input_shape);
  EXPECT_EQ(loaded.config.slo_ms, 20);
  EXPECT_EQ(loaded.features_at(4).gflops, 30);
  EXPECT_EQ(loaded.features_at(1).memory_load, 3.25);
  EXPECT_EQ(loaded.config.provenance->share_method, "scaled");
  const RuntimeProfile& profile = loaded.profile();
  EXPECT_EQ(profile.latency_ms(1, 20), 4);
  EXPECT_DOUBLE_EQ(profile.latency_ms(1, 15), 6);    // halfway between 10% (8 ms) and 20% (4 ms)
  EXPECT_DOUBLE_EQ(profile.latency_ms(1, 60), 2.5);  // 20% .. 100%: 4 - 3·40/80
  EXPECT_EQ(profile.latency_ms(1, 9), std::numeric_limits<double>::infinity());
  EXPECT_EQ(profile.min_share(4), 50);
  EXPECT_EQ(profile.latency_ms(4, 40), std::numeric_limits<double>::infinity());
}

TEST_F(AllocatorFiles, MalformedRepositoryFilesNameFileKeyAndExpectation) {
  ModelEntry entry = scaled_model("toy", 20, {{1, 2}, {2, 3}});
  const fs::path repo = dir_ / "repo";
  save_model_entry(entry, repo.string());
  const fs::path config = repo / "toy" / "model.toml";
  const fs::path runtime = repo / "toy" / "runtime.csv";
  const std::string good_config = [&] {
    std::ifstream in(config);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto load_error = [&] { return usage_message([&] { ModelRepository::load(repo.string()); }); };

  std::string text = good_config;
  text.replace(text.find("slo_ms = 20.0"), 13, "slo_ms = -1.0");
  write(config, text);
  EXPECT_NE(load_error().find("model.toml:"), std::string::npos) << load_error();
  EXPECT_NE(load_error().find(": slo_ms: expected an SLO in ms > 0, got -1"), std::string::npos)
      << load_error();

  text = good_config;
  text.replace(text.find("slo_ms"), 6, "slo_sm");
  write(config, text);
  EXPECT_NE(load_error().find("slo_sm: unknown key"), std::string::npos) << load_error();

  text = good_config;
  text.replace(text.find("name = \"toy\""), 12, "name = \"top\"");
  write(config, text);
  EXPECT_NE(load_error().find("name: expected \"toy\" (the folder's name), got \"top\""),
            std::string::npos)
      << load_error();

  write(config, good_config);
  write(runtime, "batch_size,share,latency_ms\n1,100,2\n2,50,6\n");
  EXPECT_NE(load_error().find("runtime.csv: expected a row at share 100 for every batch size; "
                              "batch size 2 has none"),
            std::string::npos)
      << load_error();
  write(runtime, "batch_size,share,latency_ms\n1,100,2\n2,100,0\n");
  EXPECT_NE(load_error().find("runtime.csv:3: column latency_ms: expected a latency in ms > 0"),
            std::string::npos)
      << load_error();
  write(runtime, "batch_size,share,latency_ms\n1,100,2\n3,100,1\n");
  EXPECT_NE(load_error().find("column batch_size: expected one of model.toml's batch_sizes [1, 2]"),
            std::string::npos)
      << load_error();
  // No runtime.csv: the model loads, without a profile.
  fs::remove(runtime);
  EXPECT_FALSE(ModelRepository::load(repo.string()).find("toy")->runtime.has_value());
  fs::create_directories(repo / "stray");
  EXPECT_NE(load_error().find("stray: no model.toml"), std::string::npos) << load_error();
}

TEST_F(AllocatorFiles, LoadFileIsCheckedAgainstTheRepository) {
  const ModelRepository repository = two_models();
  const fs::path path = dir_ / "load.toml";
  write(path, model_loads_toml({{"a", 120, 50}, {"b", 5, 80}}));
  const std::vector<ModelLoad> loads = load_model_loads(path.string(), repository);
  ASSERT_EQ(loads.size(), 2u);
  EXPECT_EQ(loads[0].rate_per_s, 120);
  EXPECT_EQ(loads[1].slo_ms, 80);
  // Without slo_ms, the repository's SLO.
  write(path, "version = 1\n[[models]]\nname = \"b\"\nrate = 3\n");
  EXPECT_EQ(load_model_loads(path.string(), repository).at(0).slo_ms, 100);
  auto error_of = [&](const std::string& text) {
    write(path, text);
    return usage_message([&] { load_model_loads(path.string(), repository); });
  };
  EXPECT_NE(error_of("version = 1\n[[models]]\nname = \"a\"\nrate = -5\n")
                .find("load.toml:4: models[0].rate: expected an arrival rate in requests/s >= 0, "
                      "got -5"),
            std::string::npos);
  EXPECT_NE(error_of("version = 1\n[[models]]\nname = \"zz\"\nrate = 5\n")
                .find("models[0].name: expected a model of the repository"),
            std::string::npos);
  EXPECT_NE(error_of("version = 1\n[[models]]\nname = \"a\"\n")
                .find("models[0].rate: expected a number (the key is missing)"),
            std::string::npos);
  EXPECT_NE(error_of("version = 1\n[[models]]\nname = \"a\"\nrate = 1\n[[models]]\nname = \"a\"\n"
                     "rate = 2\n")
                .find("models[1].name: expected each model once"),
            std::string::npos);
  EXPECT_NE(error_of("version = 1\n").find("models: expected at least 1 [[models]] table"),
            std::string::npos);
  EXPECT_NE(error_of("version = 1\n[[models]\n").find("load.toml:2: not valid TOML"),
            std::string::npos);
}

TEST_F(AllocatorFiles, PlanRoundTripsAndARewrittenPlanIsChecked) {
  ModelRepository repository;
  repository.add(scaled_model("c", 40, {{1, 2}, {4, 4}}));
  const Allocation plan =
      allocate(repository, {{"c", 1500, 40}}, 2, AllocationPolicy::kDeinfer, NoInterference());
  const fs::path path = dir_ / "plan.toml";
  save_allocation(plan, path.string());
  const Allocation loaded = load_allocation(path.string());
  EXPECT_EQ(loaded.policy, "deinfer");
  EXPECT_EQ(loaded.gpus, 2);
  EXPECT_EQ(loaded.predictor, "none");
  ASSERT_EQ(loaded.models.size(), 1u);
  ASSERT_EQ(loaded.models[0].placements.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const Placement& a = plan.models[0].placements[i];
    const Placement& b = loaded.models[0].placements[i];
    EXPECT_EQ(a.gpu, b.gpu);
    EXPECT_EQ(a.share, b.share);
    EXPECT_EQ(a.batch_size, b.batch_size);
    EXPECT_EQ(a.rate_per_s, b.rate_per_s);  // exact: shortest round-trip text
    EXPECT_EQ(a.item_time_ms, b.item_time_ms);
    EXPECT_EQ(a.max_item_time_ms, b.max_item_time_ms);
    EXPECT_EQ(a.meets_slo, b.meets_slo);
  }
  // A simulator's next step: the loads back, a rate changed, allocated again.
  std::vector<ModelLoad> loads = loaded.loads();
  loads[0].rate_per_s = 500;
  const Allocation again =
      allocate(repository, loads, loaded.gpus, AllocationPolicy::kDeinfer, NoInterference());
  EXPECT_EQ(again.models[0].placements.size(), 1u);

  std::string text = allocation_to_toml(plan);
  auto error_of = [&](const std::string& changed) {
    write(path, changed);
    return usage_message([&] { load_allocation(path.string()); });
  };
  std::string over = text;
  over.replace(over.find("gpu = 1"), 7, "gpu = 0");
  EXPECT_NE(error_of(over).find("GPU 0 holds 164%"), std::string::npos) << error_of(over);
  std::string wrong_gpu = text;
  wrong_gpu.replace(wrong_gpu.find("gpu = 1"), 7, "gpu = 2");
  EXPECT_NE(error_of(wrong_gpu).find("models[0].placements[1].gpu: expected a GPU index in 0..1, "
                                     "got 2"),
            std::string::npos)
      << error_of(wrong_gpu);
  std::string no_batch = text;
  no_batch.replace(no_batch.find("batch_size = 4"), 14, "");
  EXPECT_NE(error_of(no_batch).find("batch_size: expected an integer (the key is missing)"),
            std::string::npos);
}

}  // namespace
}  // namespace repipe
