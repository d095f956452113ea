// Tests of the I/O emulation's arithmetic on a fake clock: AU% without the first step, samples/s
// and MB/s over every step, the compute draws, and the job's sums and means over ranks.
#include "datasets/io_emulation.h"

#include <gtest/gtest.h>

namespace repipe {
namespace {

// Time moves only when a load or a sleep says so.
class FakeClock : public Clock {
 public:
  double now_s() override { return now; }
  void sleep_s(double seconds) override {
    slept.push_back(seconds);
    now += seconds;
  }
  double now = 100;
  std::vector<double> slept;
};

TEST(IoEmulation, AuCountsComputeOverWallTimeWithoutTheFirstStep) {
  FakeClock clock;
  int loads = 0;
  // The first load takes 0.5 s (cold), later ones 0.02 s; compute is 0.08 s; the barrier 0.
  auto load = [&]() -> std::pair<std::int64_t, std::int64_t> {
    clock.now += loads++ == 0 ? 0.5 : 0.02;
    return {32, 32 * 1000};
  };
  const std::vector<IoStep> steps = run_io_emulation(11, load, {0.08, 0}, 1, clock, {});
  ASSERT_EQ(steps.size(), 11u);
  EXPECT_DOUBLE_EQ(steps[0].io_wait_s(), 0.5);
  EXPECT_NEAR(steps[3].io_wait_s(), 0.02, 1e-12);
  EXPECT_NEAR(steps[3].compute_s(), 0.08, 1e-12);
  const IoSummary s = summarize_rank(steps);
  EXPECT_NEAR(s.au_percent, 80.0, 1e-9) << "0.08 / (0.02 + 0.08), the cold step left out";
  EXPECT_NEAR(s.wall_s, 0.58 + 10 * 0.1, 1e-9);
  EXPECT_NEAR(s.samples_per_s, 11 * 32 / 1.58, 1e-6) << "every step counts for throughput";
  EXPECT_NEAR(s.mb_per_s, 11 * 32 * 1000 / 1e6 / 1.58, 1e-9);
  EXPECT_NEAR(s.io_wait_s, 0.5 + 10 * 0.02, 1e-9);
  EXPECT_NEAR(s.compute_s, 11 * 0.08, 1e-9);
  EXPECT_NE(io_summary_lines(s, 90).find("au_pass=no"), std::string::npos);
  EXPECT_NE(io_summary_lines(s, 75).find("au_pass=yes"), std::string::npos);
}

TEST(IoEmulation, TheBarrierWaitIsNeitherComputeNorIo) {
  FakeClock clock;
  auto load = [&]() -> std::pair<std::int64_t, std::int64_t> { return {4, 0}; };
  const std::vector<IoStep> steps =
      run_io_emulation(5, load, {0.1, 0}, 1, clock, [&] { clock.now += 0.1; });
  EXPECT_NEAR(summarize_rank(steps).au_percent, 50.0, 1e-9);
}

TEST(IoEmulation, ComputeIsANormalDrawClampedAtZeroAndSeeded) {
  FakeClock a, b, c;
  auto load = [] { return std::pair<std::int64_t, std::int64_t>{1, 0}; };
  run_io_emulation(4000, load, {0.01, 0.02}, 7, a, {});
  run_io_emulation(4000, load, {0.01, 0.02}, 7, b, {});
  run_io_emulation(4000, load, {0.01, 0.02}, 8, c, {});
  EXPECT_EQ(a.slept, b.slept);
  EXPECT_NE(a.slept, c.slept);
  double zeros = 0, sum = 0;
  for (double s : a.slept) {
    EXPECT_GE(s, 0.0);
    zeros += s == 0 ? 1 : 0;
    sum += s;
  }
  // P(N(0.01, 0.02) < 0) = P(Z < -0.5) = 0.3085; the clamped mean is 0.01 + 0.02 * 0.1978.
  EXPECT_NEAR(zeros / 4000, 0.3085, 0.03);
  EXPECT_NEAR(sum / 4000, 0.01 + 0.02 * 0.1978, 0.0015);
}

TEST(IoEmulation, TheJobAveragesAuAndAddsThroughput) {
  IoSummary r0, r1;
  r0.au_percent = 90;
  r0.samples_per_s = 100;
  r0.mb_per_s = 10;
  r0.wall_s = 3;
  r1.au_percent = 70;
  r1.samples_per_s = 50;
  r1.mb_per_s = 5;
  r1.wall_s = 4;
  const IoSummary job = summarize_job({r0, r1});
  EXPECT_DOUBLE_EQ(job.au_percent, 80);
  EXPECT_DOUBLE_EQ(job.samples_per_s, 150);
  EXPECT_DOUBLE_EQ(job.mb_per_s, 15);
  EXPECT_DOUBLE_EQ(job.wall_s, 4);
}

}  // namespace
}  // namespace repipe
