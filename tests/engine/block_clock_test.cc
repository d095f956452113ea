// Tests of the block clock on emulated blocks, whose backward sleeps a known time: the autograd
// hooks split one backward call into each block's share.
#include "engine/block_clock.h"

#include <gtest/gtest.h>

#include "profiler/emulated_model.h"

namespace repipe {
namespace {

TEST(BlockClock, SplitsOneBackwardCallIntoEachBlocksShare) {
  Profile profile;
  profile.blocks = {{"a", 1, 2, 64, 4, 0}, {"b", 1, 30, 64, 4, 0}, {"c", 1, 12, 64, 4, 0}};
  Model model = build_emulated_model(profile, "emulated:test", 1.0, 1.0, 1);
  BlockClock clock(3);
  using Clock = BlockClock::Clock;
  Bundle x{{"x", torch::randn({2, kEmulatedInputFeatures}).requires_grad_(true)}};
  for (std::size_t i = 0; i < 3; ++i) {
    auto start = Clock::now();
    x = model.blocks[i]->forward(x);
    clock.forward_done(i, std::chrono::duration<double, std::milli>(Clock::now() - start).count(),
                       x);
  }
  auto start = Clock::now();
  x.at("logits").sum().backward();
  clock.backward_done(start, Clock::now());
  const std::vector<double>& backward = clock.backward_ms();
  // Sleeps overshoot on a busy machine, never undershoot: each share is at least its sleep, and
  // no block takes another's (30 ms is block b's alone).
  EXPECT_GE(backward[0], 1.9);
  EXPECT_LT(backward[0], 12);
  EXPECT_GE(backward[1], 29.9);
  EXPECT_GE(backward[2], 11.9);
  EXPECT_LT(backward[2], 29);
  EXPECT_GE(clock.forward_ms()[1], 0.9);
  EXPECT_EQ(clock.output_bytes()[2], 2 * kEmulatedClasses * 4);
}

}  // namespace
}  // namespace repipe
