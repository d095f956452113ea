// Tests of the CUSUM rate-change detector: DeInfer's reference (40/s then 100/s gives 70 at the
// first alarm, then 85), a drop, DeInfer's warm-up alarm from λ̂ = 0, the drift against noise,
// and the bad options and files.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "inference/rate_cusum.h"

namespace repipe {
namespace {

std::vector<double> steps(std::vector<std::pair<double, int>> parts) {
  std::vector<double> counts;
  for (const auto& [value, times] : parts) counts.insert(counts.end(), times, value);
  return counts;
}

TEST(RateCusum, DeinfersReferenceJumpGives70Then85) {
  // 25 s at 40/s, then 100/s; h = 50, k = 0, a window of 20 (DeInfer's).
  // s25: S+ = 60 > 50: alarm; the window ends [40 x 19, 100], its largest jump is 40 -> 100, and
  //      the mean from one sample before it is (40 + 100) / 2 = 70.
  // s26: S+ = 30.  s27: S+ = 60: alarm; [.., 40, 100, 100, 100] gives (40 + 300) / 4 = 85.
  // s28..31: +15 a second, S+ = 60 at s31: alarm; (40 + 7 x 100) / 8 = 92.5.
  const std::vector<RateChange> changes =
      detect_rate_changes(steps({{40, 25}, {100, 7}}), CusumOptions{});
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].index, 25u);
  EXPECT_EQ(changes[0].direction, RateDirection::kUp);
  EXPECT_DOUBLE_EQ(changes[0].previous_rate, 40);
  EXPECT_DOUBLE_EQ(changes[0].new_rate, 70);
  EXPECT_EQ(changes[1].index, 27u);
  EXPECT_DOUBLE_EQ(changes[1].previous_rate, 70);
  EXPECT_DOUBLE_EQ(changes[1].new_rate, 85);
  EXPECT_EQ(changes[2].index, 31u);
  EXPECT_DOUBLE_EQ(changes[2].new_rate, 92.5);
}

TEST(RateCusum, DetectsADropOnTheLowerSum) {
  // 100/s then 40/s: S− = 60 at the first 40: alarm down, (100 + 40) / 2 = 70; then S− grows by
  // 30 a second: 60 at the next but one, (100 + 3 x 40) / 4 = 55.
  RateCusum cusum;
  std::vector<RateChange> changes;
  for (double x : steps({{100, 10}, {40, 3}})) {
    if (auto change = cusum.observe(x)) changes.push_back(*change);
  }
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].direction, RateDirection::kDown);
  EXPECT_DOUBLE_EQ(changes[0].new_rate, 70);
  EXPECT_EQ(changes[1].direction, RateDirection::kDown);
  EXPECT_DOUBLE_EQ(changes[1].new_rate, 55);
  EXPECT_DOUBLE_EQ(cusum.rate(), 55);
  EXPECT_EQ(cusum.upper_sum(), 0);
  EXPECT_EQ(cusum.lower_sum(), 0);
  EXPECT_EQ(cusum.observed(), 13u);
}

TEST(RateCusum, DeinfersStartFromZeroAlarmsOnceWhileWarmingUp) {
  // λ̂ = 0 at the start: 40 + 40 = 80 > 50 at the second observation, re-estimated to 40 (the
  // window [40, 40] has no jump: the mean of all of it). The reference follows unchanged.
  CusumOptions deinfer;
  deinfer.initial_rate = 0;
  const std::vector<RateChange> changes = detect_rate_changes(steps({{40, 25}, {100, 3}}), deinfer);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].index, 1u);
  EXPECT_DOUBLE_EQ(changes[0].previous_rate, 0);
  EXPECT_DOUBLE_EQ(changes[0].new_rate, 40);
  EXPECT_DOUBLE_EQ(changes[1].new_rate, 70);
  EXPECT_DOUBLE_EQ(changes[2].new_rate, 85);
}

TEST(RateCusum, DriftKeepsPoissonNoiseFromRaisingAlarms) {
  // 2000 s of Poisson(40) arrivals, no change: without drift the sums are random walks that
  // cross h = 50 again and again; a drift of 10 (~1.6 sigma) keeps them near 0.
  std::mt19937_64 rng(7);
  std::poisson_distribution<int> arrivals(40);
  std::vector<double> counts;
  for (int i = 0; i < 2000; ++i) counts.push_back(arrivals(rng));
  CusumOptions no_drift;
  no_drift.initial_rate = 40;
  EXPECT_GE(detect_rate_changes(counts, no_drift).size(), 5u);
  CusumOptions drift = no_drift;
  drift.drift = 10;
  EXPECT_TRUE(detect_rate_changes(counts, drift).empty());
  // The drift does not hide a real jump: 40 -> 100 still alarms, 5 s after it at most.
  counts.resize(200);
  counts.insert(counts.end(), 20, 100);
  const std::vector<RateChange> jump = detect_rate_changes(counts, drift);
  ASSERT_FALSE(jump.empty());
  EXPECT_GE(jump[0].index, 200u);
  EXPECT_LE(jump[0].index, 205u);
  EXPECT_EQ(jump[0].direction, RateDirection::kUp);
}

TEST(RateCusum, BadOptionsAreUsageErrors) {
  auto message = [](CusumOptions o) {
    try {
      RateCusum cusum(o);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CusumOptions o;
  o.threshold = 0;
  EXPECT_NE(message(o).find("--threshold"), std::string::npos);
  o = {};
  o.drift = -1;
  EXPECT_NE(message(o).find("--drift"), std::string::npos);
  o = {};
  o.window = 0;
  EXPECT_NE(message(o).find("--window"), std::string::npos);
  o = {};
  o.initial_rate = -3;
  EXPECT_NE(message(o).find("--initial-rate"), std::string::npos);
}

TEST(RateCusum, ReadsATimeCountSeriesStrictly) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("repipe_cusum_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string good = (dir / "good.csv").string();
  std::ofstream(good) << "time,count\n10,40\n12,44\n14,38\n";
  const RateSeries series = read_rate_series(good);
  EXPECT_EQ(series.count, (std::vector<double>{40, 44, 38}));
  EXPECT_EQ(series.time_s.front(), 10);
  EXPECT_DOUBLE_EQ(series.period_s, 2);
  auto error_of = [&](const std::string& text) {
    const std::string path = (dir / "bad.csv").string();
    std::ofstream(path) << text;
    try {
      read_rate_series(path);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("time,count\n1,40\n2,-1\n").find("bad.csv:3: column count"),
            std::string::npos);
  EXPECT_NE(error_of("time,count\n1,40\n1,40\n").find("column time"), std::string::npos);
  EXPECT_NE(error_of("time,rate\n1,40\n").find("bad.csv"), std::string::npos);
  EXPECT_NE(error_of("time,count\n").find("no rows"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace repipe
