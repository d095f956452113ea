// Tests of the monitor's windows: the reference costs, slowdowns that follow the rank when blocks
// move, the median over steps, and a discarded window.
#include "engine/stage_monitor.h"

#include <gtest/gtest.h>

namespace repipe {
namespace {

Plan two_stages(std::int64_t first_of_second) {
  Plan plan;
  plan.stages = {{0, first_of_second - 1, {0}}, {first_of_second, 3, {1}}};
  return plan;
}

// A single process plays both ranks: the all-reduce of the sums is the identity.
void no_reduce(std::vector<double>&) {}

// One step of both stages under `plan`: blocks 0 and 1 cost forward 1 ms, blocks 2 and 3 2 ms,
// backward twice that; the stages' compute per micro-batch is their blocks' plus `overhead`
// (stage 0), times `slow` (stage 1).
void run_step(StageMonitor& monitor, const Plan& plan, std::int64_t step, double slow,
              double overhead = 1) {
  const std::int64_t m = 4;
  for (int s = 0; s < 2; ++s) {
    double blocks_ms = 0;
    for (std::int64_t b = plan.stages[s].first_block; b <= plan.stages[s].last_block; ++b) {
      const double f = b < 2 ? 1.0 : 2.0;
      for (int i = 0; i < m; ++i) monitor.add_block(b, f, 2 * f, 100 * (b + 1));
      blocks_ms += 3 * f;
    }
    const double per_microbatch = s == 0 ? blocks_ms + overhead : blocks_ms * slow;
    monitor.add_stage(s, step, per_microbatch * m, m);
  }
}

TEST(StageMonitor, TheFirstWindowIsTheReferenceAndLaterOnesMeasureTheRanks) {
  StageMonitor monitor(2, 4, 5);
  const Plan plan = two_stages(2);
  for (std::int64_t step = 2; step <= 5; ++step) run_step(monitor, plan, step, 1);
  MonitorWindow first = monitor.exchange(5, plan, no_reduce);
  ASSERT_TRUE(monitor.reference().has_value());
  const Profile& reference = *monitor.reference();
  ASSERT_EQ(reference.blocks.size(), 4u);
  EXPECT_DOUBLE_EQ(reference.blocks[0].forward_ms, 1);
  EXPECT_DOUBLE_EQ(reference.blocks[3].backward_ms, 4);
  EXPECT_EQ(reference.blocks[2].output_bytes, 300);
  // Stage 0 spends 1 ms beyond its blocks; stage 1 nothing.
  EXPECT_EQ(monitor.reference_overhead_ms(), (std::vector<double>{1, 0}));
  EXPECT_DOUBLE_EQ(first.compute_ms[0], 7);
  EXPECT_DOUBLE_EQ(first.expected_ms[1], 12);
  EXPECT_EQ(first.slowdown, (std::vector<double>{1, 1}));

  // Rank 1 slows down 2.5x.
  for (std::int64_t step = 6; step <= 10; ++step) run_step(monitor, plan, step, 2.5);
  MonitorWindow slowed = monitor.exchange(10, plan, no_reduce);
  EXPECT_DOUBLE_EQ(slowed.slowdown[0], 1);
  EXPECT_DOUBLE_EQ(slowed.slowdown[1], 2.5);

  // Block 1 moves to rank 1: the expected costs follow the blocks, the overhead stays, and the
  // slowdown stays the rank's.
  const Plan moved = two_stages(1);
  for (std::int64_t step = 11; step <= 15; ++step) run_step(monitor, moved, step, 2.5);
  MonitorWindow after = monitor.exchange(15, moved, no_reduce);
  EXPECT_DOUBLE_EQ(after.expected_ms[0], 3 + 1);
  EXPECT_DOUBLE_EQ(after.expected_ms[1], 3 + 12);
  EXPECT_DOUBLE_EQ(after.slowdown[0], 1);
  EXPECT_DOUBLE_EQ(after.slowdown[1], 2.5);
}

TEST(StageMonitor, OneOddStepDoesNotMoveTheWindowAndADiscardedWindowTellsNothing) {
  StageMonitor monitor(2, 4, 10);
  const Plan plan = two_stages(2);
  for (std::int64_t step = 1; step <= 10; ++step) run_step(monitor, plan, step, 1);
  monitor.exchange(10, plan, no_reduce);
  for (std::int64_t step = 11; step <= 20; ++step)
    run_step(monitor, plan, step, step == 17 ? 9 : 1);
  EXPECT_DOUBLE_EQ(monitor.exchange(20, plan, no_reduce).slowdown[1], 1);
  // Six of ten steps slowed: the median sees it.
  for (std::int64_t step = 21; step <= 30; ++step) run_step(monitor, plan, step, step > 24 ? 2 : 1);
  EXPECT_DOUBLE_EQ(monitor.exchange(30, plan, no_reduce).slowdown[1], 2);

  for (std::int64_t step = 31; step <= 35; ++step) run_step(monitor, plan, step, 3);
  monitor.discard_window();
  MonitorWindow empty = monitor.exchange(40, plan, no_reduce);
  EXPECT_EQ(empty.compute_ms, (std::vector<double>{0, 0}));
  EXPECT_EQ(empty.slowdown, (std::vector<double>{1, 1}));
}

TEST(StageMonitor, NoReferenceUntilEveryBlockRan) {
  StageMonitor monitor(2, 4, 5);
  const Plan plan = two_stages(2);
  monitor.add_stage(0, 1, 4, 1);
  MonitorWindow window = monitor.exchange(5, plan, no_reduce);
  EXPECT_FALSE(monitor.reference().has_value());
  EXPECT_EQ(window.slowdown, (std::vector<double>{1, 1}));
}

}  // namespace
}  // namespace repipe
