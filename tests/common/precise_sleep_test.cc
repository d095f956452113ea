// Tests of sleep_until_exactly: it may be late on a busy machine, but never early, whatever the
// lateness it has learnt (it aims its sleeps early by it).
#include "common/precise_sleep.h"

#include <gtest/gtest.h>

namespace repipe {
namespace {

TEST(SleepUntilExactly, NeverReturnsBeforeTheDeadline) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 60; ++i) {
    // 0 to 590 us ahead, and some deadlines already past.
    const auto deadline = Clock::now() + std::chrono::microseconds(10 * i) -
                          (i % 10 == 0 ? std::chrono::milliseconds(1) : Clock::duration::zero());
    sleep_until_exactly(deadline);
    EXPECT_GE(Clock::now(), deadline) << i;
  }
}

}  // namespace
}  // namespace repipe
