// Tests of the straight-pipeline planner and the baselines: exactness against brute force on
// random small instances (bottleneck, memory limits, the smallest fitting memory), the
// simulated tie-break, and one-line UsageErrors for bad input.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "partitioner/baseline_planners.h"
#include "partitioner/cost_model.h"
#include "partitioner/schedule_simulator.h"
#include "partitioner/straight_planner.h"

namespace repipe {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Calls visit(starts) for every split of `blocks` blocks into `stages` non-empty contiguous
// stages (starts[s] = first block of stage s).
void for_each_split(std::int64_t blocks, int stages,
                    const std::function<void(const std::vector<std::int64_t>&)>& visit) {
  std::vector<std::int64_t> starts{0};
  std::function<void()> recurse = [&] {
    const auto placed = static_cast<int>(starts.size());
    if (placed == stages) {
      visit(starts);
      return;
    }
    for (std::int64_t next = starts.back() + 1; next <= blocks - (stages - placed); ++next) {
      starts.push_back(next);
      recurse();
      starts.pop_back();
    }
  };
  recurse();
}

// The straight planner's objective, from first principles: slowest stage or link; infinity if a
// stage does not fit its device.
double brute_bottleneck(const CostModel& cost, const std::vector<std::int64_t>& starts) {
  const auto stages = static_cast<int>(starts.size());
  double bottleneck = 0;
  for (int s = 0; s < stages; ++s) {
    const std::int64_t last = s + 1 < stages ? starts[s + 1] - 1 : cost.num_blocks() - 1;
    const std::int64_t limit = cost.cluster().memory_of(s);
    if (limit > 0 && cost.stage_memory_bytes(starts[s], last, s, stages) > limit) return kInf;
    bottleneck = std::max(bottleneck, cost.stage_compute_ms(starts[s], last, s));
    if (s + 1 < stages) bottleneck = std::max(bottleneck, cost.boundary_ms(last, s, s + 1));
  }
  return bottleneck;
}

std::int64_t brute_max_memory(const CostModel& cost, const std::vector<std::int64_t>& starts) {
  const auto stages = static_cast<int>(starts.size());
  std::int64_t largest = 0;
  for (int s = 0; s < stages; ++s) {
    const std::int64_t last = s + 1 < stages ? starts[s + 1] - 1 : cost.num_blocks() - 1;
    largest = std::max(largest, cost.stage_memory_bytes(starts[s], last, s, stages));
  }
  return largest;
}

std::vector<std::int64_t> starts_of(const Plan& plan) {
  std::vector<std::int64_t> starts;
  for (const StagePlan& stage : plan.stages) starts.push_back(stage.first_block);
  return starts;
}

struct RandomInstance {
  Profile profile;
  Cluster cluster;
  TrainingSetup setup;
  int stages = 1;
};

RandomInstance random_instance(std::mt19937_64& rng) {
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  RandomInstance instance;
  const int blocks = uniform(1, 9);
  instance.stages = uniform(1, std::min(blocks, 4));
  for (int b = 0; b < blocks; ++b) {
    BlockProfile block;
    block.name = "b" + std::to_string(b);
    // Small integers and some zeros make ties (several optimal splits) common.
    block.forward_ms = uniform(0, 4) * 0.5;
    block.backward_ms = uniform(0, 8) * 0.5;
    block.output_bytes = uniform(0, 4) * 1000;
    block.param_bytes = uniform(0, 5) * 100;
    block.activation_bytes = uniform(0, 5) * 10;
    instance.profile.blocks.push_back(block);
  }
  Cluster& cluster = instance.cluster;
  cluster.num_devices = instance.stages + uniform(0, 1);
  const double speeds[] = {0.5, 1.0, 1.0, 1.5, 2.0};
  for (int d = 0; d < cluster.num_devices; ++d) {
    cluster.speed.push_back(speeds[uniform(0, 4)]);
    // Mostly unlimited or roomy; sometimes tight enough that nothing fits.
    const int kind = uniform(0, 3);
    cluster.memory_bytes.push_back(kind == 0 ? 0 : uniform(1, 40) * 100);
  }
  const double bandwidths[] = {kInf, 1e6, 4e6};
  cluster.intra_node = Link{bandwidths[uniform(0, 2)], uniform(0, 2) * 1e-4};
  cluster.inter_node = Link{bandwidths[uniform(1, 2)] / 4, 1e-3};
  cluster.devices_per_node = uniform(0, 2);
  const ScheduleKind kinds[] = {ScheduleKind::kGPipe, ScheduleKind::k1F1BFlush,
                                ScheduleKind::k1F1BStash};
  instance.setup.schedule = kinds[uniform(0, 2)];
  instance.setup.microbatches = uniform(1, 6);
  instance.setup.optimizer_state_copies = uniform(0, 2);
  return instance;
}

PlanRequest request_for(int stages) {
  PlanRequest request;
  request.model = "toy";
  request.stages = stages;
  return request;
}

// Plans the instance and checks it against brute force: the optimal bottleneck (or NoPlanFits
// with the exact smallest fitting memory), a valid plan that fits memory.
void expect_matches_brute_force(const CostModel& cost, int stages, int instance_id) {
  SCOPED_TRACE("instance " + std::to_string(instance_id));
  double best = kInf;
  std::int64_t least_memory = std::numeric_limits<std::int64_t>::max();
  for_each_split(cost.num_blocks(), stages, [&](const std::vector<std::int64_t>& starts) {
    best = std::min(best, brute_bottleneck(cost, starts));
    least_memory = std::min(least_memory, brute_max_memory(cost, starts));
  });
  EXPECT_EQ(min_memory_for_straight_pipeline(cost, stages), least_memory);
  if (best == kInf) {
    try {
      plan_straight_pipeline(cost, request_for(stages));
      ADD_FAILURE() << "expected NoPlanFits";
    } catch (const NoPlanFits& e) {
      EXPECT_EQ(e.min_memory_bytes(), least_memory) << e.what();
    }
    return;
  }
  const Plan plan = plan_straight_pipeline(cost, request_for(stages));
  validate_plan(plan, "toy", cost.num_blocks(), stages, "test");
  const double got = brute_bottleneck(cost, starts_of(plan));
  EXPECT_GE(got, best);
  EXPECT_LE(got, best * (1 + 1e-9)) << "planned " << got << ", brute force " << best;
  ASSERT_TRUE(plan.prediction.has_value());
  EXPECT_DOUBLE_EQ(plan.prediction->bottleneck_ms, got);
}

TEST(StraightPlanner, MatchesBruteForceOnRandomInstances) {
  std::mt19937_64 rng(20240611);
  int infeasible = 0;
  for (int i = 0; i < 600; ++i) {
    const RandomInstance instance = random_instance(rng);
    const CostModel cost(instance.profile, instance.cluster, instance.setup);
    if (min_memory_for_straight_pipeline(cost, instance.stages) >
        *std::max_element(instance.cluster.memory_bytes.begin(),
                          instance.cluster.memory_bytes.end())) {
      ++infeasible;
    }
    expect_matches_brute_force(cost, instance.stages, i);
  }
  EXPECT_GT(infeasible, 20);  // the memory limits do bite in a share of the instances
}

TEST(StraightPlanner, MatchesBruteForceWithAPluggedInStageCost) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    const RandomInstance instance = random_instance(rng);
    // A non-linear but monotone cost, as a slowdown predictor might give: superlinear in the
    // stage's work, plus a fixed per-stage overhead that depends on the device.
    Profile profile = instance.profile;
    StageCostFn predictor = [profile](std::int64_t first, std::int64_t last, int device) {
      double work = 0;
      for (std::int64_t b = first; b <= last; ++b) {
        work += profile.blocks[b].forward_ms + profile.blocks[b].backward_ms;
      }
      return std::pow(work, 1.3) + 0.25 * device;
    };
    const CostModel cost(instance.profile, instance.cluster, instance.setup, predictor);
    expect_matches_brute_force(cost, instance.stages, i);
  }
}

TEST(StraightPlanner, NoPlanFitsReportsTheSmallestFittingMemory) {
  Profile profile;
  for (int b = 0; b < 4; ++b) {
    profile.blocks.push_back({"b" + std::to_string(b), 1, 2, 0, 100 * (b + 1), 0});
  }
  // Parameters 100, 200, 300, 400; 2 stages, plain SGD: the best split {0,1,2}|{3} needs 600.
  const CostModel cost(profile, uniform_cluster(2, 500));
  try {
    plan_straight_pipeline(cost, request_for(2));
    FAIL() << "expected NoPlanFits";
  } catch (const NoPlanFits& e) {
    EXPECT_EQ(e.min_memory_bytes(), 600);
    const std::string message = e.what();
    EXPECT_NE(message.find("600 bytes"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  const Plan plan =
      plan_straight_pipeline(CostModel(profile, uniform_cluster(2, 600)), request_for(2));
  EXPECT_EQ(starts_of(plan), (std::vector<std::int64_t>{0, 3}));
}

TEST(StraightPlanner, StashedVersionsAndInFlightActivationsCountInMemory) {
  Profile profile;
  profile.blocks = {{"a", 1, 1, 0, 100, 10}, {"b", 1, 1, 0, 100, 10}};
  TrainingSetup setup{ScheduleKind::k1F1BStash, 8, 2};
  const CostModel cost(profile, uniform_cluster(2), setup);
  // Stage 0 of 2 keeps 2 micro-batches in flight: 1 stashed version, Adam's 2 states.
  EXPECT_EQ(cost.stage_memory_bytes(0, 0, 0, 2), 100 * (1 + 2 + 1) + 2 * 10);
  EXPECT_EQ(cost.stage_memory_bytes(1, 1, 1, 2), 100 * (1 + 2 + 0) + 1 * 10);
  setup.schedule = ScheduleKind::kGPipe;
  EXPECT_EQ(CostModel(profile, uniform_cluster(2), setup).stage_memory_bytes(0, 1, 0, 1),
            200 * 3 + 8 * 20);
}

TEST(StraightPlanner, SlowDeviceGetsLessWork) {
  Profile profile;
  for (int b = 0; b < 9; ++b) profile.blocks.push_back({"b" + std::to_string(b), 1, 2, 0, 0, 0});
  Cluster cluster = uniform_cluster(2);
  cluster.speed = {0.5, 1.0};  // device 0 runs at half speed
  const Plan plan = plan_straight_pipeline(CostModel(profile, cluster), request_for(2));
  // 3 blocks on the slow device (18 ms), 6 on the fast one (18 ms).
  EXPECT_EQ(starts_of(plan), (std::vector<std::int64_t>{0, 3}));
  EXPECT_DOUBLE_EQ(plan.prediction->bottleneck_ms, 18);
}

TEST(StraightPlanner, SlowLinkMovesTheCut) {
  Profile profile;
  // Equal compute; the output after block 1 is huge, after block 2 small.
  profile.blocks = {{"a", 1, 1, 10, 0, 0},
                    {"b", 1, 1, 1'000'000, 0, 0},
                    {"c", 1, 1, 10, 0, 0},
                    {"d", 1, 1, 10, 0, 0}};
  const Plan fast = plan_straight_pipeline(CostModel(profile, uniform_cluster(2)), request_for(2));
  EXPECT_EQ(starts_of(fast), (std::vector<std::int64_t>{0, 2}));
  // 1 MB/s: the cut after block 1 costs 2 x 1000 ms, after block 2 only 2 x 0.01 ms.
  const CostModel slow(profile, uniform_cluster(2, 0, Link{1e6, 0}));
  const Plan plan = plan_straight_pipeline(slow, request_for(2));
  EXPECT_EQ(starts_of(plan), (std::vector<std::int64_t>{0, 3}));
  EXPECT_DOUBLE_EQ(plan.prediction->bottleneck_ms, 6);
}

double simulated_step_ms(const CostModel& cost, const std::vector<std::int64_t>& starts) {
  return estimate_straight_plan(cost, straight_plan_from_starts(starts, cost.num_blocks(), cost,
                                                                request_for(starts.size())))
      .step_time_ms;
}

TEST(StraightPlanner, TiesGoToTheFasterSimulatedStep) {
  // The last block fixes the bottleneck at 10 ms; blocks 0..3 can be split three ways, and the
  // slow device 0 should get as little as possible (4 ms rather than 8 ms).
  Profile profile;
  for (int b = 0; b < 4; ++b)
    profile.blocks.push_back({"b" + std::to_string(b), 0.5, 0.5, 0, 0, 0});
  profile.blocks.push_back({"last", 5, 5, 0, 0, 0});
  Cluster cluster = uniform_cluster(3);
  cluster.speed = {0.25, 1, 1};
  const CostModel cost(profile, cluster, TrainingSetup{ScheduleKind::k1F1BFlush, 4, 0});
  const Plan plan = plan_straight_pipeline(cost, request_for(3));
  EXPECT_DOUBLE_EQ(plan.prediction->bottleneck_ms, 10);
  double best_step = kInf;
  for_each_split(5, 3, [&](const std::vector<std::int64_t>& starts) {
    if (brute_bottleneck(cost, starts) <= 10) {
      best_step = std::min(best_step, simulated_step_ms(cost, starts));
    }
  });
  EXPECT_DOUBLE_EQ(plan.prediction->step_time_ms, best_step);
  EXPECT_EQ(starts_of(plan), (std::vector<std::int64_t>{0, 1, 4}));
}

TEST(StraightPlanner, TieBreakOftenFindsTheBestSimulatedStep) {
  // Not a guarantee (two candidates are compared, not all optimal splits): measured here.
  std::mt19937_64 rng(99);
  int instances = 0, best_found = 0;
  for (int i = 0; i < 300; ++i) {
    RandomInstance instance = random_instance(rng);
    instance.cluster.memory_bytes.clear();
    const CostModel cost(instance.profile, instance.cluster, instance.setup);
    const Plan plan = plan_straight_pipeline(cost, request_for(instance.stages));
    const double bottleneck = plan.prediction->bottleneck_ms;
    double best_step = kInf;
    for_each_split(cost.num_blocks(), instance.stages, [&](const std::vector<std::int64_t>& s) {
      if (brute_bottleneck(cost, s) <= bottleneck * (1 + 1e-9)) {
        best_step = std::min(best_step, simulated_step_ms(cost, s));
      }
    });
    ++instances;
    if (plan.prediction->step_time_ms <= best_step * (1 + 1e-12)) ++best_found;
  }
  RecordProperty("best_simulated_step_found", best_found);
  EXPECT_GE(best_found, instances * 8 / 10) << best_found << " of " << instances;
}

TEST(StraightPlanner, EstimateMatchesTheSimulatorAndTheModel) {
  Profile profile;
  profile.blocks = {{"a", 1, 2, 1000, 0, 0}, {"b", 2, 4, 1000, 0, 0}};
  const CostModel cost(profile, uniform_cluster(2, 0, Link{1e6, 1e-3}),
                       TrainingSetup{ScheduleKind::kGPipe, 3, 0});
  const Plan plan = straight_plan_from_starts({0, 1}, 2, cost, request_for(2));
  const PlanEstimate estimate = estimate_straight_plan(cost, plan);
  ASSERT_EQ(estimate.stages.size(), 2u);
  EXPECT_DOUBLE_EQ(estimate.stages[0].compute_ms, 3);
  EXPECT_DOUBLE_EQ(estimate.stages[0].boundary_ms, 2 * (1 + 1));  // 1 ms latency + 1 ms transfer
  EXPECT_DOUBLE_EQ(estimate.stages[1].boundary_ms, 0);
  EXPECT_DOUBLE_EQ(estimate.bottleneck_ms, 6);
  StageTimes times;
  times.forward_ms = {1, 2};
  times.backward_ms = {2, 4};
  times.send_ms = 2;
  EXPECT_DOUBLE_EQ(estimate.step_time_ms,
                   simulate(make_schedule(ScheduleKind::kGPipe, 2, 3), times).step_time_ms);
}

TEST(BaselinePlanners, ProduceValidPlans) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 200; ++i) {
    RandomInstance instance = random_instance(rng);
    const CostModel cost(instance.profile, instance.cluster, instance.setup);
    const PlanRequest request = request_for(instance.stages);
    for (const Plan& plan :
         {plan_uniform_by_blocks(cost, request), plan_by_parameter_bytes(cost, request),
          plan_greedy_by_time(cost, request)}) {
      validate_plan(plan, "toy", cost.num_blocks(), instance.stages, "baseline");
      ASSERT_TRUE(plan.prediction.has_value());
      // No baseline beats the optimum (when the optimum exists without memory limits).
      Cluster unlimited = instance.cluster;
      unlimited.memory_bytes.clear();
      const CostModel free_memory(instance.profile, unlimited, instance.setup);
      const Plan best = plan_straight_pipeline(free_memory, request);
      EXPECT_GE(plan.prediction->bottleneck_ms, best.prediction->bottleneck_ms * (1 - 1e-12));
    }
  }
}

TEST(BaselinePlanners, SplitAsDocumented) {
  Profile profile;
  const double ms[] = {4, 1, 1, 1, 1, 4};
  for (int b = 0; b < 6; ++b) {
    profile.blocks.push_back({"b" + std::to_string(b), ms[b], 0, 0, b == 0 ? 1000 : 10, 0});
  }
  const CostModel cost(profile, uniform_cluster(3));
  EXPECT_EQ(starts_of(plan_uniform_by_blocks(cost, request_for(3))),
            (std::vector<std::int64_t>{0, 2, 4}));
  // Total 12, 4 per stage: {0} {1..4} {5}.
  EXPECT_EQ(starts_of(plan_greedy_by_time(cost, request_for(3))),
            (std::vector<std::int64_t>{0, 1, 5}));
  // Block 0 holds most parameters: it gets a stage of its own.
  EXPECT_EQ(starts_of(plan_by_parameter_bytes(cost, request_for(3))).at(1), 1);
}

std::string usage_error(const std::function<void()>& run) {
  try {
    run();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(PlannerInput, BadInputIsAOneLineUsageError) {
  Profile profile;
  profile.blocks = {{"a", 1, 1, 0, 0, 0}, {"b", 1, 1, 0, 0, 0}};
  const CostModel cost(profile, uniform_cluster(4));
  auto expect_error = [](const std::string& message, const std::string& part) {
    EXPECT_NE(message.find(part), std::string::npos)
        << "'" << message << "' lacks '" << part << "'";
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  };
  expect_error(usage_error([&] { plan_straight_pipeline(cost, request_for(3)); }),
               "3 stages, but the profile has only 2 blocks");
  expect_error(usage_error([&] { plan_greedy_by_time(cost, request_for(3)); }), "only 2 blocks");
  expect_error(usage_error([&] { plan_straight_pipeline(cost, request_for(0)); }),
               "stages: expected at least 1, got 0");
  expect_error(usage_error([&] {
                 plan_straight_pipeline(CostModel(profile, uniform_cluster(1)), request_for(2));
               }),
               "cluster has only 1 devices");
  expect_error(usage_error([&] { CostModel(profile, uniform_cluster(0)); }),
               "cluster: devices: expected at least 1, got 0");
  Profile negative = profile;
  negative.blocks[1].backward_ms = -1;
  expect_error(usage_error([&] { CostModel(negative, uniform_cluster(1)); }),
               "profile: block 1 (b): backward_ms: expected finite ms >= 0");
  negative = profile;
  negative.blocks[0].param_bytes = -5;
  expect_error(usage_error([&] { CostModel(negative, uniform_cluster(1)); }),
               "block 0 (a): param_bytes: expected bytes >= 0, got -5");
  expect_error(usage_error([&] { CostModel(Profile{}, uniform_cluster(1)); }),
               "profile: expected at least one block");
  Cluster cluster = uniform_cluster(2);
  cluster.speed = {1, 0};
  expect_error(usage_error([&] { CostModel(profile, cluster); }),
               "cluster: speed of device 1: expected a finite factor > 0");
  cluster = uniform_cluster(2, -1);
  expect_error(usage_error([&] { CostModel(profile, cluster); }),
               "cluster: memory of device 0: expected bytes >= 0");
  cluster = uniform_cluster(2, 0, Link{0, 0});
  expect_error(usage_error([&] { CostModel(profile, cluster); }),
               "cluster: intra_node.bandwidth: expected bytes/s > 0");
  cluster = uniform_cluster(2);
  cluster.speed = {1};
  expect_error(usage_error([&] { CostModel(profile, cluster); }),
               "cluster: speed: expected one factor per device (2), got 1");
  expect_error(usage_error([&] {
                 CostModel(profile, uniform_cluster(1), TrainingSetup{ScheduleKind::kGPipe, 0, 0});
               }),
               "microbatches: expected at least 1, got 0");
  PlanRequest nameless = request_for(1);
  nameless.model.clear();
  expect_error(usage_error([&] { plan_straight_pipeline(cost, nameless); }),
               "model: expected a model name");
}

TEST(CostModel, SpeedFactorDividesTimeAndLinksFollowNodes) {
  Profile profile;
  profile.blocks = {{"a", 2, 4, 8000, 0, 0}};
  Cluster cluster = uniform_cluster(4);
  cluster.speed = {1, 0.5, 2, 1};
  cluster.devices_per_node = 2;
  cluster.intra_node = Link{8e6, 0};  // 8000 bytes: 1 ms
  cluster.inter_node = Link{1e6, 1e-3};
  const CostModel cost(profile, cluster);
  EXPECT_DOUBLE_EQ(cost.stage_compute_ms(0, 0, 1), 12);  // half speed: twice as long
  EXPECT_DOUBLE_EQ(cost.stage_compute_ms(0, 0, 2), 3);
  EXPECT_DOUBLE_EQ(cost.message_ms(0, 0, 1), 1);
  EXPECT_DOUBLE_EQ(cost.message_ms(0, 1, 2), 1 + 8);
  EXPECT_DOUBLE_EQ(cost.boundary_ms(0, 1, 2), 18);
  EXPECT_DOUBLE_EQ(cost.forward_fraction(0, 0), 2.0 / 6.0);
}

}  // namespace
}  // namespace repipe
