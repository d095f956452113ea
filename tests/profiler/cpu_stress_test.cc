// Tests of the CPU stress generator: intensity 0 does nothing, each kind counts the work it did
// (flops for compute, bytes and flops for memory), the duty cycle is honoured, a stop request
// ends a run early, bad options are one-line usage errors, and the report survives its text form.
// No speed goals: the machine is shared and noisy.
#include "profiler/cpu_stress.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

StressOptions quick(StressKind kind, double intensity, double seconds = 0.3) {
  StressOptions options;
  options.kind = kind;
  options.intensity = intensity;
  options.seconds = seconds;
  options.buffer_bytes = std::size_t{32} << 20;  // past L2; the default 64 MiB is past L3 too
  return options;
}

TEST(CpuStressTest, IntensityZeroDoesNoWork) {
  for (StressKind kind : {StressKind::kCompute, StressKind::kMemory, StressKind::kMixed}) {
    StressReport report = run_cpu_stress(quick(kind, 0, 0.1));
    EXPECT_EQ(report.busy_fraction, 0) << stress_kind_name(kind);
    EXPECT_EQ(report.gflops, 0) << stress_kind_name(kind);
    EXPECT_EQ(report.gbps, 0) << stress_kind_name(kind);
    EXPECT_GE(report.wall_seconds, 0.1);  // it still lasts its time: a co-runner that idles
    EXPECT_FALSE(report.stopped_early);
  }
}

TEST(CpuStressTest, ComputeCountsFlopsAndNoBytes) {
  StressReport report = run_cpu_stress(quick(StressKind::kCompute, 1));
  EXPECT_GT(report.gflops, 0);
  EXPECT_EQ(report.gbps, 0);
  EXPECT_GT(report.busy_fraction, 0);
  EXPECT_LE(report.busy_fraction, 1.0 + 1e-9);
  EXPECT_EQ(report.threads, 1);
  EXPECT_EQ(report.kind, StressKind::kCompute);
  EXPECT_GE(report.wall_seconds, 0.3);
}

TEST(CpuStressTest, MemoryCountsTriadBytesAndFlops) {
  StressReport report = run_cpu_stress(quick(StressKind::kMemory, 1));
  EXPECT_GT(report.gbps, 0);
  // Both come from the same triad elements: 2 flops per 24 bytes, exactly.
  EXPECT_NEAR(report.gflops * kTriadBytesPerElement / 2, report.gbps, 1e-9 * report.gbps);
}

TEST(CpuStressTest, MixedDoesBothKindsOfWork) {
  StressReport report = run_cpu_stress(quick(StressKind::kMixed, 1));
  EXPECT_GT(report.gbps, 0);
  // More flops than the triad alone accounts for: the FMA chunks ran too.
  EXPECT_GT(report.gflops, report.gbps * 2 / kTriadBytesPerElement);
}

// Robust on a loaded machine: busy time is wall time inside busy slices, and a slice ends at
// the first chunk boundary after intensity·period however little CPU the thread got. Only
// wake-ups later than a whole period (skipped periods) move it, and not by 0.3.
TEST(CpuStressTest, HalfIntensityIsBusyAboutHalfTheTime) {
  StressReport report = run_cpu_stress(quick(StressKind::kCompute, 0.5, 0.4));
  EXPECT_GT(report.busy_fraction, 0.2);
  EXPECT_LT(report.busy_fraction, 0.8);
}

TEST(CpuStressTest, TwoThreadsPinnedToOneCpu) {
  StressOptions options = quick(StressKind::kCompute, 1, 0.2);
  options.threads = 2;
  options.cores = {0};
  StressReport report = run_cpu_stress(options);
  EXPECT_EQ(report.threads, 2);
  EXPECT_GT(report.gflops, 0);
}

TEST(CpuStressTest, StopRequestEndsTheRunEarly) {
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  StressReport report = run_cpu_stress(quick(StressKind::kMixed, 0.5, 30), &stop);
  stopper.join();
  EXPECT_TRUE(report.stopped_early);
  EXPECT_LT(report.wall_seconds, 20);  // not 30: it stopped (maybe before its first chunk)
}

TEST(CpuStressTest, DutyCycleAtZeroNeverCallsTheChunk) {
  int chunks = 0;
  const auto start = StressClock::now();
  const double busy = run_duty_cycle(0, 10, start, start + std::chrono::milliseconds(30), nullptr,
                                     [&] { ++chunks; });
  EXPECT_EQ(chunks, 0);
  EXPECT_EQ(busy, 0);
}

TEST(CpuStressTest, DutyCycleStoppedBeforeStartDoesNothing) {
  std::atomic<bool> stop{true};
  int chunks = 0;
  const auto start = StressClock::now();
  run_duty_cycle(1, 10, start, start + std::chrono::seconds(10), &stop, [&] { ++chunks; });
  EXPECT_EQ(chunks, 0);
}

TEST(CpuStressTest, KernelsComputeWhatTheySay) {
  EXPECT_EQ(run_fma_kernel(1000, 0.25f), run_fma_kernel(1000, 0.25f));
  EXPECT_NE(run_fma_kernel(1000, 0.25f), run_fma_kernel(1001, 0.25f));
  // No iterations: the sum of the 64 starting values, 64·0.25 + 1e-3·(0+...+63).
  EXPECT_NEAR(run_fma_kernel(0, 0.25f), 64 * 0.25 + 1e-3 * 63 * 64 / 2, 1e-4);
  std::vector<double> a(5, 0), b = {1, 2, 3, 4, 5}, c = {10, 20, 30, 40, 50};
  run_triad_kernel(a.data(), b.data(), c.data(), 4, 0.5);
  EXPECT_EQ(a, (std::vector<double>{6, 12, 18, 24, 0}));
}

void expect_usage_error(const StressOptions& options, const std::string& flag) {
  try {
    validate_stress_options(options);
    ADD_FAILURE() << "no error; expected one naming " << flag;
  } catch (const UsageError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(flag), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(CpuStressTest, BadOptionsAreUsageErrorsNamingTheFlag) {
  StressOptions good = quick(StressKind::kCompute, 1);
  EXPECT_NO_THROW(validate_stress_options(good));
  auto with = [&](auto change) {
    StressOptions options = good;
    change(options);
    return options;
  };
  expect_usage_error(with([](StressOptions& o) { o.intensity = 1.5; }), "--intensity");
  expect_usage_error(with([](StressOptions& o) { o.intensity = -0.1; }), "--intensity");
  expect_usage_error(
      with([](StressOptions& o) { o.intensity = std::numeric_limits<double>::quiet_NaN(); }),
      "--intensity");
  expect_usage_error(with([](StressOptions& o) { o.seconds = 0; }), "--seconds");
  expect_usage_error(with([](StressOptions& o) { o.threads = 0; }), "--threads");
  expect_usage_error(with([](StressOptions& o) { o.period_ms = 0.1; }), "--period-ms");
  expect_usage_error(with([](StressOptions& o) { o.device = "tpu"; }), "--device");
  expect_usage_error(with([](StressOptions& o) { o.device = "cuda:x"; }), "--device");
  expect_usage_error(with([](StressOptions& o) { o.cores = {0, 4096}; }), "--cores");
  expect_usage_error(with([](StressOptions& o) { o.cores = {-1}; }), "--cores");
  expect_usage_error(with([](StressOptions& o) {
                       o.device = "cuda:0";
                       o.threads = 2;
                     }),
                     "--threads");
  EXPECT_THROW(parse_stress_kind("heavy"), UsageError);
  EXPECT_EQ(parse_stress_kind("mixed"), StressKind::kMixed);
}

TEST(CpuStressTest, ReportTextRoundTrips) {
  StressReport report;
  report.device = "cpu";
  report.kind = StressKind::kMemory;
  report.intensity = 0.5;
  report.threads = 2;
  report.requested_seconds = 2;
  report.wall_seconds = 1.2345;
  report.busy_fraction = 0.49;
  report.cpu_fraction = 0.47;
  report.gflops = 0.8125;
  report.gbps = 9.75;
  report.stopped_early = true;
  const std::string text = stress_report_text(report);
  EXPECT_EQ(text.rfind("version=1\n", 0), 0u) << text;
  StressReport back = parse_stress_report(text, "r.txt");
  EXPECT_EQ(back.device, "cpu");
  EXPECT_EQ(back.kind, StressKind::kMemory);
  EXPECT_EQ(back.intensity, 0.5);
  EXPECT_EQ(back.threads, 2);
  EXPECT_EQ(back.requested_seconds, 2);
  EXPECT_EQ(back.wall_seconds, 1.2345);
  EXPECT_EQ(back.busy_fraction, 0.49);
  EXPECT_EQ(back.cpu_fraction, 0.47);
  EXPECT_EQ(back.gflops, 0.8125);
  EXPECT_EQ(back.gbps, 9.75);
  EXPECT_TRUE(back.stopped_early);
  EXPECT_EQ(stress_report_line(report),
            "stress: kind=memory intensity=0.50 threads=2 seconds=1.23 busy=0.49 gflops=0.81 "
            "gbps=9.75 cpu=0.47");
  EXPECT_THROW(parse_stress_report("version=2\n", "r.txt"), UsageError);
  EXPECT_THROW(parse_stress_report("version=1\nkind=memory\n", "r.txt"), UsageError);  // missing
  EXPECT_THROW(parse_stress_report("version=1\nno equals sign\n", "r.txt"), UsageError);
}

}  // namespace
}  // namespace repipe
