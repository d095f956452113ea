// profiler/load_sampler.h: how loaded this machine is right now, as the calling process sees it:
// the LoadFeatures (profiler/interference_data.h) the slowdown predictor learns from.
//
// Two kinds of evidence. Passive: /proc/stat and /proc/loadavg over a short window (CPU busy
// fractions, runnable tasks, context switches), with this process's own share taken out, and
// the hardware LLC-miss counter where perf offers one. Active: two ~5 ms micro-probes on the
// probe's cores, an FMA loop and a streaming loop, timed against their speed on an idle
// machine; they make memory-bandwidth contention visible where no hardware counter is.
//
// The /proc parsing is kept in pure functions (text in, numbers out) so tests feed fixed text.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include "profiler/interference_data.h"

namespace repipe {

// The micro-probes' work sizes and their rates with no load, from calibrate_load_probes().
// Measured once (on an idle machine) and kept by the caller for every sample_load().
struct LoadProbeCalibration {
  std::int64_t fma_iterations = 0;   // one FMA probe run, ~5 ms alone
  std::int64_t stream_elements = 0;  // one streaming probe run (triad elements), ~5 ms alone
  double alone_gflops = 0;           // FMA probe, the best of 9 runs
  double alone_gbps = 0;             // streaming probe, the best of 9 runs
};

// Times both micro-probes on `cores` (empty: wherever the calling thread may run). The calling
// thread is pinned there meanwhile and its affinity restored after. Takes ~0.2 s.
LoadProbeCalibration calibrate_load_probes(const std::vector<int>& cores = {});

struct LoadSampleOptions {
  std::vector<int> probe_cores;  // the probe's CPUs; empty: those the calling thread may use
  double seconds = 0.3;          // the passive window
  int run_queue_samples = 10;    // /proc/loadavg reads spread over the window
  bool micro_probes = true;      // run them (after the window); needs `calibration`
  int probe_repeats = 5;         // runs of each micro-probe; their total rate counts
  LoadProbeCalibration calibration;
};

// The load over a window the caller spends as it likes (a training rank: its steps), with no
// sleep of its own: /proc deltas and the LLC counter from start() to read(), the run queue as
// the mean of the readings taken meanwhile, then the micro-probes (~50 ms on `probe_cores`).
// Own CPU time and running threads are taken out as in sample_load().
class LoadMeter {
 public:
  // `probe_cores`: the CPUs whose load counts (empty: those the calling thread may use);
  // micro-probes need `calibration` (calibrate_load_probes()). Bad cores are a UsageError.
  LoadMeter(std::vector<int> probe_cores, bool micro_probes, LoadProbeCalibration calibration,
            int probe_repeats = 5);
  ~LoadMeter();
  LoadMeter(const LoadMeter&) = delete;
  LoadMeter& operator=(const LoadMeter&) = delete;

  void start();             // begins a window (read() also begins the next one)
  void sample_run_queue();  // one /proc/loadavg reading into the window's mean
  LoadFeatures read();      // the window so far; a reading of the run queue is added first

 private:
  struct Window;
  std::vector<int> probe_cores_;
  bool confined_to_probe_cores_ = false;
  bool micro_probes_;
  LoadProbeCalibration calibration_;
  int probe_repeats_;
  std::unique_ptr<Window> window_;
};

// Measures the load: the passive window first, then the micro-probes pinned to probe_cores
// (the calling thread's affinity is restored after). This process's own CPU time is taken out
// of cpu_util, and out of probe_core_util when the calling thread was confined to probe_cores;
// its own running threads are taken out of run_queue. Without micro-probes, compute_fraction
// and memory_fraction stay 1. Takes `seconds` plus ~50 ms. A probe core that is not on this
// machine is a UsageError.
LoadFeatures sample_load(const LoadSampleOptions& options);

// ---- Parsing, exposed for tests.

// One "cpu" line of /proc/stat, in USER_HZ ticks. guest time is already inside user and nice.
struct CpuTimes {
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                steal = 0;
  std::uint64_t busy() const { return user + nice + system + irq + softirq + steal; }
  std::uint64_t total() const { return busy() + idle + iowait; }
};

struct ProcStat {
  CpuTimes all;                        // the "cpu" line
  std::map<int, CpuTimes> per_cpu;     // "cpuN" lines (offline CPUs have none)
  std::uint64_t context_switches = 0;  // "ctxt"
  int procs_running = 0;
  int procs_blocked = 0;
};

// Throws InternalError when the "cpu" line or a number is missing.
ProcStat parse_proc_stat(std::string_view text);

// /proc/loadavg: "0.52 0.58 0.59 3/512 12345".
struct LoadAverage {
  double load1 = 0, load5 = 0, load15 = 0;
  int runnable = 0;  // tasks running or ready to run now, the reader included
  int tasks = 0;
};
LoadAverage parse_loadavg(std::string_view text);

// The state letter of /proc/<pid>/task/<tid>/stat ('R' running, 'S' sleeping, ...); the
// command name may hold spaces and parentheses, so the state follows the last ')'.
char parse_task_state(std::string_view text);

// Busy fraction of the CPUs behind `before` -> `after`, with `subtract_ticks` of the
// caller's own time taken out; clamped to [0, 1], 0 when no time passed.
double busy_fraction(const CpuTimes& before, const CpuTimes& after, double subtract_ticks);

}  // namespace repipe
