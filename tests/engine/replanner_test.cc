// Tests of the replanner: the plan it picks against brute force, the migration it charges, when
// it declines, and the way back to the initial plan.
#include "engine/replanner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace repipe {
namespace {

// Six blocks of 1 ms forward + 2 ms backward; moving block b sends 100 (b + 1) bytes.
Profile six_blocks() {
  Profile profile;
  for (int b = 0; b < 6; ++b) {
    profile.blocks.push_back({"block" + std::to_string(b), 1, 2, 0, 0, 0});
  }
  return profile;
}

std::vector<std::int64_t> state_bytes() {
  return {100, 200, 300, 400, 500, 600};
}

Plan plan_of(std::vector<std::int64_t> firsts, std::vector<int> ranks = {0, 1, 2}) {
  Plan plan;
  plan.model = "test";
  plan.schedule = "1f1b-flush";
  plan.microbatches = 4;
  plan.microbatch_size = 1;
  for (std::size_t s = 0; s < firsts.size(); ++s) {
    const std::int64_t last = s + 1 < firsts.size() ? firsts[s + 1] - 1 : 5;
    plan.stages.push_back({firsts[s], last, {ranks[s]}});
  }
  return plan;
}

TrainingSetup setup() {
  return {.schedule = ScheduleKind::k1F1BFlush, .microbatches = 4};
}

// The least bottleneck over every split of the six blocks into three stages, stage s at speed
// 1 / slowdown[rank of s].
double brute_force_bottleneck(const std::vector<double>& slowdown, const std::vector<int>& ranks) {
  double best = std::numeric_limits<double>::infinity();
  for (int a = 1; a <= 4; ++a) {
    for (int b = 1; a + b <= 5; ++b) {
      const int sizes[3] = {a, b, 6 - a - b};
      double worst = 0;
      for (int s = 0; s < 3; ++s) worst = std::max(worst, 3.0 * sizes[s] * slowdown[ranks[s]]);
      best = std::min(best, worst);
    }
  }
  return best;
}

double bottleneck(const Plan& plan, const std::vector<double>& slowdown) {
  double worst = 0;
  for (const StagePlan& stage : plan.stages) {
    worst = std::max(worst, 3.0 * static_cast<double>(stage.last_block - stage.first_block + 1) *
                                slowdown[stage.ranks.front()]);
  }
  return worst;
}

std::int64_t moved_bytes(const Plan& from, const Plan& to) {
  std::int64_t bytes = 0;
  for (std::int64_t b = 0; b < 6; ++b) {
    if (from.stage_of_block(b) != to.stage_of_block(b)) bytes += state_bytes()[b];
  }
  return bytes;
}

TEST(Replanner, MovesBlocksOffASlowRankToTheBestSplitAndChargesTheirBytes) {
  const Plan initial = plan_of({0, 2, 4});
  Replanner replanner(six_blocks(), {0, 0, 0}, state_bytes(), initial, setup());
  const std::vector<double> slowdown{1, 3, 1};
  Replan r = replanner.consider(slowdown, initial, 100);
  ASSERT_TRUE(r.repartition) << r.why_not;
  EXPECT_DOUBLE_EQ(bottleneck(r.plan, slowdown), brute_force_bottleneck(slowdown, {0, 1, 2}));
  EXPECT_EQ(r.plan.stages[1].last_block - r.plan.stages[1].first_block, 0);  // one block left
  EXPECT_LT(r.step_ms_new, r.step_ms_now);
  EXPECT_DOUBLE_EQ(r.gain_ms, (r.step_ms_now - r.step_ms_new) * 100);
  EXPECT_EQ(r.migration_bytes, moved_bytes(initial, r.plan));
  EXPECT_GT(r.migration_bytes, 0);
  EXPECT_EQ(r.plan.schedule, initial.schedule);

  // Too few steps left to win the migration back, or a demanded gain out of reach: no move.
  Replan late = replanner.consider(slowdown, initial, 0);
  EXPECT_FALSE(late.repartition);
  EXPECT_NE(late.why_not.find("migration"), std::string::npos) << late.why_not;
  Replanner demanding(six_blocks(), {0, 0, 0}, state_bytes(), initial, setup(), {.min_gain = 0.9});
  Replan small = demanding.consider(slowdown, initial, 100);
  EXPECT_FALSE(small.repartition);
  EXPECT_NE(small.why_not.find("under 90%"), std::string::npos) << small.why_not;
}

TEST(Replanner, SpeedsFollowTheRanksAndTheStagesKeepTheirRanks) {
  const std::vector<int> ranks{2, 0, 1};
  const Plan initial = plan_of({0, 2, 4}, ranks);
  Replanner replanner(six_blocks(), {0, 0, 0}, state_bytes(), initial, setup());
  const std::vector<double> slowdown{1, 1, 4};  // rank 2 runs stage 0
  Replan r = replanner.consider(slowdown, initial, 100);
  ASSERT_TRUE(r.repartition) << r.why_not;
  EXPECT_DOUBLE_EQ(bottleneck(r.plan, slowdown), brute_force_bottleneck(slowdown, ranks));
  EXPECT_EQ(r.plan.stages[0].last_block, 0);
  for (std::size_t s = 0; s < 3; ++s) EXPECT_EQ(r.plan.stages[s].ranks, initial.stages[s].ranks);
}

TEST(Replanner, AStageOverheadStaysWithItsStage) {
  // Stage 1 spends 6 ms per micro-batch beyond its blocks: at normal speed the best split gives
  // it fewer blocks, and the brute force agrees once the overhead is counted.
  const Plan initial = plan_of({0, 2, 4});
  Replanner replanner(six_blocks(), {0, 6, 0}, state_bytes(), initial, setup());
  Replan r = replanner.consider({1, 1.5, 1}, initial, 1000);
  ASSERT_TRUE(r.repartition) << r.why_not;
  EXPECT_EQ(r.plan.stages[1].last_block - r.plan.stages[1].first_block + 1, 1);
}

TEST(Replanner, BackToNormalRestoresTheInitialPlan) {
  const Plan initial = plan_of({0, 2, 4});
  Replanner replanner(six_blocks(), {0, 0, 0}, state_bytes(), initial, setup());
  const Plan skewed = plan_of({0, 3, 4});
  Replan back = replanner.consider({1, 1, 1}, skewed, 50);
  ASSERT_TRUE(back.repartition) << back.why_not;
  EXPECT_EQ(back.plan, initial);
  EXPECT_EQ(back.migration_bytes, state_bytes()[2]);

  Replan stay = replanner.consider({1, 1, 1}, initial, 50);
  EXPECT_FALSE(stay.repartition);
  EXPECT_EQ(stay.why_not, "the current plan is already the best");
}

TEST(Replanner, ReplicatedPlansAreRefused) {
  Plan replicated = plan_of({0, 2, 4});
  replicated.stages[0].ranks = {0, 3};
  EXPECT_THROW(Replanner(six_blocks(), {0, 0, 0}, state_bytes(), replicated, setup()), UsageError);
}

}  // namespace
}  // namespace repipe
