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

// Rank 1 is measured 2x slow on blocks 2-3; the predictor says its load hurts blocks 3-5 four
// times as much as blocks 0-2 (a stage's predicted slowdown is its blocks' mean).
double predicted_on_rank1(std::int64_t first, std::int64_t last) {
  double sum = 0;
  for (std::int64_t b = first; b <= last; ++b) sum += b <= 2 ? 1.0 : 4.0;
  return sum / static_cast<double>(last - first + 1);
}

TEST(Replanner, APredictorScalesCandidateStagesAgainstTheMeasuredOneAndMatchesBruteForce) {
  const Plan running = plan_of({0, 2, 4});
  const std::vector<double> slowdown{1, 2, 1};
  Replanner replanner(six_blocks(), {0, 0, 0}, state_bytes(), running, setup());
  int calls_for_other_ranks = 0;
  replanner.set_stage_slowdown([&](int rank, std::int64_t first, std::int64_t last) {
    if (rank != 1) ++calls_for_other_ranks;
    return rank == 1 ? predicted_on_rank1(first, last) : 1.0;
  });
  // Stage cost: 3 ms a block; on rank 1 x 2 x predicted(candidate) / predicted(2-3).
  auto stage_ms = [&](int s, std::int64_t first, std::int64_t last) {
    double ms = 3.0 * static_cast<double>(last - first + 1);
    if (s == 1) ms *= 2 * predicted_on_rank1(first, last) / predicted_on_rank1(2, 3);
    return ms;
  };
  double best = std::numeric_limits<double>::infinity();
  for (int a = 1; a <= 4; ++a) {
    for (int b = 1; a + b <= 5; ++b) {
      best = std::min({best, std::max({stage_ms(0, 0, a - 1), stage_ms(1, a, a + b - 1),
                                       stage_ms(2, a + b, 5)})});
    }
  }
  Replan r = replanner.consider(slowdown, running, 1000);
  ASSERT_TRUE(r.repartition) << r.why_not;
  double chosen = 0;
  for (int s = 0; s < 3; ++s) {
    const StagePlan& stage = r.plan.stages[static_cast<std::size_t>(s)];
    chosen = std::max(chosen, stage_ms(s, stage.first_block, stage.last_block));
  }
  EXPECT_DOUBLE_EQ(chosen, best);
  // Block 3 alone would cost rank 1 9.6 ms (6 ms without the predictor): it goes elsewhere.
  EXPECT_LE(r.plan.stages[1].last_block, 2);
  EXPECT_EQ(calls_for_other_ranks, 0);  // normal ranks are not asked
}

TEST(Replanner, ReplicatedPlansAreRefused) {
  Plan replicated = plan_of({0, 2, 4});
  replicated.stages[0].ranks = {0, 3};
  EXPECT_THROW(Replanner(six_blocks(), {0, 0, 0}, state_bytes(), replicated, setup()), UsageError);
}

}  // namespace
}  // namespace repipe
