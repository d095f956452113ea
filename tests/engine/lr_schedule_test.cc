// Tests of the learning-rate schedules at the points that define them.
#include "engine/lr_schedule.h"

#include <gtest/gtest.h>

namespace repipe {
namespace {

TEST(LrSchedule, ConstantIgnoresWarmup) {
  LrSchedule s{"constant", 0.1, 0.0, 5, 100};
  EXPECT_DOUBLE_EQ(s.at(1), 0.1);
  EXPECT_DOUBLE_EQ(s.at(100), 0.1);
}

TEST(LrSchedule, WarmupRampsLinearlyThenHolds) {
  LrSchedule s{"warmup", 0.1, 0.0, 4, 100};
  EXPECT_DOUBLE_EQ(s.at(1), 0.025);
  EXPECT_DOUBLE_EQ(s.at(2), 0.05);
  EXPECT_DOUBLE_EQ(s.at(4), 0.1);
  EXPECT_DOUBLE_EQ(s.at(50), 0.1);
}

TEST(LrSchedule, CosineDecaysFromPeakToMin) {
  LrSchedule s{"cosine", 1.0, 0.1, 10, 110};
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_DOUBLE_EQ(s.at(60), 0.55);  // half way: the mean of peak and min
  EXPECT_DOUBLE_EQ(s.at(110), 0.1);
  for (std::int64_t step = 11; step <= 110; ++step) EXPECT_LT(s.at(step), s.at(step - 1));
}

TEST(LrSchedule, CosineWithoutWarmupStartsNearPeak) {
  LrSchedule s{"cosine", 1.0, 0.0, 0, 3};
  EXPECT_NEAR(s.at(1), 0.75, 1e-15);
  EXPECT_NEAR(s.at(3), 0.0, 1e-15);
}

}  // namespace
}  // namespace repipe
