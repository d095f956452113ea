// Tests of the load sampler: /proc/stat, /proc/loadavg and task-state parsing on fixed text give
// exact numbers; a real sample is in range, leaves the caller's affinity as it was, and its
// micro-probes run at about their calibrated speed when nothing else is added.
#include "profiler/load_sampler.h"

#include <sched.h>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

constexpr const char* kProcStat =
    "cpu  1701890 43 451773 2000500 89282 0 2358 27822 0 0\n"
    "cpu0 811176 5 224521 1057054 29025 0 764 13852 0 0\n"
    "cpu1 890713 38 227251 943446 60257 0 1594 13969 0 0\n"
    "intr 1234 5 6 7\n"
    "ctxt 987654321\n"
    "btime 1700000000\n"
    "processes 4242\n"
    "procs_running 3\n"
    "procs_blocked 1\n"
    "softirq 55 1 2 3\n";

TEST(LoadSamplerTest, ParsesProcStatExactly) {
  ProcStat stat = parse_proc_stat(kProcStat);
  EXPECT_EQ(stat.all.user, 1701890u);
  EXPECT_EQ(stat.all.nice, 43u);
  EXPECT_EQ(stat.all.system, 451773u);
  EXPECT_EQ(stat.all.idle, 2000500u);
  EXPECT_EQ(stat.all.iowait, 89282u);
  EXPECT_EQ(stat.all.irq, 0u);
  EXPECT_EQ(stat.all.softirq, 2358u);
  EXPECT_EQ(stat.all.steal, 27822u);
  EXPECT_EQ(stat.all.busy(), 1701890u + 43 + 451773 + 2358 + 27822);
  EXPECT_EQ(stat.all.total(), stat.all.busy() + 2000500 + 89282);
  ASSERT_EQ(stat.per_cpu.size(), 2u);
  EXPECT_EQ(stat.per_cpu.at(0).user, 811176u);
  EXPECT_EQ(stat.per_cpu.at(1).iowait, 60257u);
  EXPECT_EQ(stat.per_cpu.at(1).steal, 13969u);
  EXPECT_EQ(stat.context_switches, 987654321u);
  EXPECT_EQ(stat.procs_running, 3);
  EXPECT_EQ(stat.procs_blocked, 1);
}

TEST(LoadSamplerTest, ParsesShortCpuLinesAndRefusesTextWithoutThem) {
  // Kernels before 2.6.11 stop after softirq; an offline cpu2 has no line at all.
  ProcStat stat = parse_proc_stat("cpu 10 0 5 80 5 0 0\ncpu3 10 0 5 80 5 0 0\n");
  EXPECT_EQ(stat.all.total(), 100u);
  EXPECT_EQ(stat.all.steal, 0u);
  EXPECT_EQ(stat.per_cpu.count(3), 1u);
  EXPECT_EQ(stat.per_cpu.count(2), 0u);
  EXPECT_THROW(parse_proc_stat("ctxt 5\n"), InternalError);
  EXPECT_THROW(parse_proc_stat("cpu 10 x 5\n"), InternalError);
}

TEST(LoadSamplerTest, ParsesLoadavgExactly) {
  LoadAverage load = parse_loadavg("0.52 0.58 1.59 3/512 12345\n");
  EXPECT_EQ(load.load1, 0.52);
  EXPECT_EQ(load.load5, 0.58);
  EXPECT_EQ(load.load15, 1.59);
  EXPECT_EQ(load.runnable, 3);
  EXPECT_EQ(load.tasks, 512);
  EXPECT_THROW(parse_loadavg("0.52 0.58 1.59 3 12345"), InternalError);
}

TEST(LoadSamplerTest, ParsesTheTaskStateAfterTheLastParenthesis) {
  EXPECT_EQ(parse_task_state("4242 (repipe) R 1 4242 4242 0 -1"), 'R');
  EXPECT_EQ(parse_task_state("4243 (a) b) S c) S 1 2 3"), 'S');
  EXPECT_EQ(parse_task_state("garbage"), '?');
}

TEST(LoadSamplerTest, BusyFractionSubtractsOwnTimeAndClamps) {
  CpuTimes before;
  before.user = 100;
  before.idle = 100;
  CpuTimes after = before;
  after.user += 30;    // 30 busy ticks
  after.system += 10;  // 10 more
  after.idle += 60;    // of 100 ticks in all
  EXPECT_DOUBLE_EQ(busy_fraction(before, after, 0), 0.4);
  EXPECT_DOUBLE_EQ(busy_fraction(before, after, 15), 0.25);
  EXPECT_EQ(busy_fraction(before, after, 50), 0);  // own time over-counted: clamped
  EXPECT_EQ(busy_fraction(before, before, 0), 0);  // no time passed
}

cpu_set_t affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof set, &set);
  return set;
}

bool affinity_is(const cpu_set_t& expected) {
  const cpu_set_t now = affinity();
  return CPU_EQUAL(&expected, &now);
}

// One calibration and one sample (~0.5 s in all), checked several ways.
TEST(LoadSamplerTest, SamplesThisMachineInRangeAndRestoresAffinity) {
  const cpu_set_t before = affinity();
  LoadProbeCalibration calibration = calibrate_load_probes({0});
  EXPECT_TRUE(affinity_is(before));
  EXPECT_GT(calibration.alone_gflops, 0);
  EXPECT_GT(calibration.alone_gbps, 0);
  EXPECT_GT(calibration.fma_iterations, 0);
  EXPECT_GT(calibration.stream_elements, 0);

  LoadSampleOptions options;
  options.probe_cores = {0};
  options.seconds = 0.2;
  options.calibration = calibration;
  LoadFeatures load = sample_load(options);
  EXPECT_TRUE(affinity_is(before));
  EXPECT_GE(load.cpu_util, 0);
  EXPECT_LE(load.cpu_util, 1);
  EXPECT_GE(load.probe_core_util, 0);
  EXPECT_LE(load.probe_core_util, 1);
  EXPECT_GE(load.run_queue, 0);
  EXPECT_GT(load.ctx_switches_per_s, 0);  // our own sleeps switch context
  EXPECT_TRUE(load.llc_misses_per_s == -1 || load.llc_misses_per_s >= 0);
  // Nothing added since calibrating: about the same speed (bounds loose for a shared machine).
  EXPECT_GT(load.compute_fraction, 0);
  EXPECT_LE(load.compute_fraction, 1.5);
  EXPECT_GT(load.memory_fraction, 0);
  EXPECT_LE(load.memory_fraction, 1.5);
}

TEST(LoadSamplerTest, WithoutMicroProbesTheFractionsStayOne) {
  LoadSampleOptions options;
  options.seconds = 0.05;
  options.micro_probes = false;
  LoadFeatures load = sample_load(options);
  EXPECT_EQ(load.compute_fraction, 1);
  EXPECT_EQ(load.memory_fraction, 1);
}

TEST(LoadSamplerTest, RefusesAProbeCoreNotOnThisMachineAndProbesWithoutCalibration) {
  LoadSampleOptions options;
  options.seconds = 0.05;
  options.micro_probes = false;
  options.probe_cores = {4096};
  EXPECT_THROW(sample_load(options), UsageError);
  EXPECT_THROW(calibrate_load_probes({-1}), UsageError);
  LoadSampleOptions uncalibrated;
  uncalibrated.seconds = 0.05;
  EXPECT_THROW(sample_load(uncalibrated), InternalError);
}

}  // namespace
}  // namespace repipe
