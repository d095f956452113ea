// Tests of --inject's parser and of which rank and steps an injection slows.
#include "engine/slowdown_injection.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

TEST(SlowdownInjection, ParsesRepeatedSpecsAndAppliesToItsRankAndStepRange) {
  std::vector<SlowdownInjection> injections = parse_slowdown_injections(
      "rank=1,factor=2.5,from=200,to=600\nrank=1,factor=2,from=500,to=700; "
      "rank=0,factor=1,from=1,to=2");
  ASSERT_EQ(injections.size(), 3u);
  EXPECT_EQ(injections[0].rank, 1);
  EXPECT_DOUBLE_EQ(injections[0].factor, 2.5);
  EXPECT_EQ(injections[0].from, 200);
  EXPECT_EQ(injections[0].to, 600);
  EXPECT_DOUBLE_EQ(slowdown_factor(injections, 1, 199), 1);
  EXPECT_DOUBLE_EQ(slowdown_factor(injections, 1, 200), 2.5);
  EXPECT_DOUBLE_EQ(slowdown_factor(injections, 1, 550), 5);  // overlapping injections multiply
  EXPECT_DOUBLE_EQ(slowdown_factor(injections, 1, 600), 2);  // `to` is exclusive
  EXPECT_DOUBLE_EQ(slowdown_factor(injections, 2, 300), 1);
  EXPECT_TRUE(parse_slowdown_injections("").empty());
}

TEST(SlowdownInjection, BadSpecsAreUsageErrorsThatNameTheFlag) {
  for (const char* bad :
       {"rank=1,factor=2,from=5", "rank=1,factor=0.5,from=1,to=2", "rank=-1,factor=2,from=1,to=2",
        "rank=1,factor=2,from=5,to=5", "rank=1,factor=2x,from=1,to=2", "rank=1,speed=2,from=1,to=2",
        "rank=1,factor=2,from=1,to=2,extra=3", "rank 1"}) {
    try {
      parse_slowdown_injections(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const UsageError& error) {
      EXPECT_EQ(std::string(error.what()).rfind("--inject: ", 0), 0u) << error.what();
    }
  }
}

}  // namespace
}  // namespace repipe
