// Tests of the detector's hysteresis: noise moves nothing, a slowdown is seen in one window, a
// small drift around a belief is ignored, and a recovered rank snaps back to normal.
#include "engine/slowdown_detector.h"

#include <gtest/gtest.h>

namespace repipe {
namespace {

MonitorWindow window_of(std::vector<double> slowdown) {
  MonitorWindow window;
  window.compute_ms.assign(slowdown.size(), 1.0);
  window.expected_ms.assign(slowdown.size(), 1.0);
  window.slowdown = std::move(slowdown);
  return window;
}

Plan straight(int stages) {
  Plan plan;
  for (int s = 0; s < stages; ++s) plan.stages.push_back({s, s, {s}});
  return plan;
}

TEST(SlowdownDetector, ActsOnRealChangesOnly) {
  SlowdownDetector detector(3);
  const Plan plan = straight(3);
  EXPECT_FALSE(detector.update(window_of({1.12, 0.9, 1.18}), plan));  // noise
  EXPECT_EQ(detector.slowdown(), (std::vector<double>{1, 1, 1}));

  ASSERT_TRUE(detector.update(window_of({1.0, 2.5, 1.05}), plan));
  EXPECT_EQ(detector.change(), "rank 1 slowed 2.50x");
  EXPECT_EQ(detector.slowdown(), (std::vector<double>{1, 2.5, 1}));

  EXPECT_FALSE(detector.update(window_of({1.0, 2.2, 1.0}), plan));  // within 20% of 2.5
  EXPECT_DOUBLE_EQ(detector.slowdown()[1], 2.5);

  ASSERT_TRUE(detector.update(window_of({1.0, 1.1, 1.0}), plan));
  EXPECT_EQ(detector.change(), "rank 1 back to normal");
  EXPECT_EQ(detector.slowdown(), (std::vector<double>{1, 1, 1}));
}

TEST(SlowdownDetector, AfterAMoveTheFirstWindowCalibratesTheModelError) {
  SlowdownDetector detector(2);
  const Plan plan = straight(2);
  ASSERT_TRUE(detector.update(window_of({1.0, 2.5}), plan));
  detector.calibrate_next();
  // Under the new plan rank 1's blocks are costed 20% low: it reads 3.0 at the same speed.
  EXPECT_FALSE(detector.update(window_of({1.0, 3.0}), plan));
  EXPECT_FALSE(detector.update(window_of({1.05, 3.1}), plan));
  EXPECT_DOUBLE_EQ(detector.slowdown()[1], 2.5);
  // It recovers: 1.2 measured is 1.0 once the model error is divided out.
  ASSERT_TRUE(detector.update(window_of({1.0, 1.2}), plan));
  EXPECT_EQ(detector.change(), "rank 1 back to normal");
  EXPECT_EQ(detector.slowdown(), (std::vector<double>{1, 1}));

  // A jump no model error explains is a speed change, even in a calibrating window.
  detector.calibrate_next();
  ASSERT_TRUE(detector.update(window_of({1.0, 4.0}), plan));
  EXPECT_EQ(detector.change(), "rank 1 slowed 4.00x");
}

TEST(SlowdownDetector, FollowsRanksNotStagesAndSkipsIdleStages) {
  SlowdownDetector detector(3);
  Plan plan = straight(3);
  plan.stages[0].ranks = {2};
  plan.stages[2].ranks = {0};
  MonitorWindow window = window_of({3.0, 1.0, 2.0});
  ASSERT_TRUE(detector.update(window, plan));
  EXPECT_EQ(detector.slowdown(), (std::vector<double>{2, 1, 3}));
  EXPECT_EQ(detector.change(), "rank 2 slowed 3.00x, rank 0 slowed 2.00x");

  window = window_of({3.1, 9.0, 0.5});
  window.compute_ms[1] = 0;  // stage 1 ran nothing: no news of rank 1
  ASSERT_TRUE(detector.update(window, plan));
  // Faster than the reference reads as normal.
  EXPECT_EQ(detector.change(), "rank 0 back to normal");
  EXPECT_EQ(detector.slowdown(), (std::vector<double>{1, 1, 3}));
}

}  // namespace
}  // namespace repipe
