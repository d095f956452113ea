// datasets/io_emulation.h: DLIO-style data-path emulation, the core of `repipe bench io`.
//
// Each step a rank takes its next batch from the loader (the I/O wait), then "computes" by
// sleeping a time that is constant or drawn from a normal distribution clamped at zero, then
// meets the other ranks at a barrier (as an all-reduce would). Accelerator utilisation is
// MLPerf Storage's: AU% = 100 * compute time / wall time, both without the first step, whose
// I/O starts cold; samples/s and MB/s count every step. Time comes from a Clock, so the
// arithmetic is tested on a fake one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace repipe {

// Compute per step, in seconds: the mean, and the deviation of a normal draw clamped at 0
// (0: constant).
struct ComputeTime {
  double mean_s = 0;
  double stdev_s = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_s() = 0;  // seconds since some fixed point
  virtual void sleep_s(double seconds) = 0;
};

// The steady clock and a precise sleep.
class SteadyClock : public Clock {
 public:
  double now_s() override;
  void sleep_s(double seconds) override;
};

// One step of one rank, times in seconds from the run's start.
struct IoStep {
  std::int64_t step = 0;
  double start_s = 0;     // the step asks for its batch
  double loaded_s = 0;    // the batch is there
  double computed_s = 0;  // the compute sleep ended
  double end_s = 0;       // past the barrier
  std::int64_t samples = 0;
  std::int64_t bytes = 0;  // read from storage for it

  double io_wait_s() const { return loaded_s - start_s; }
  double compute_s() const { return computed_s - loaded_s; }
};

// Runs `steps` steps: `load()` takes the next batch and returns its samples and stored bytes;
// `barrier()` meets the other ranks; `on_step` sees each finished step (progress). Compute
// times are drawn from `seed`.
std::vector<IoStep> run_io_emulation(
    std::int64_t steps, const std::function<std::pair<std::int64_t, std::int64_t>()>& load,
    const ComputeTime& compute, std::uint64_t seed, Clock& clock,
    const std::function<void()>& barrier, const std::function<void(const IoStep&)>& on_step = {});

struct IoSummary {
  double au_percent = 0;  // without the first step
  double samples_per_s = 0;
  double mb_per_s = 0;   // stored bytes read, 10^6 per second
  double wall_s = 0;     // all steps
  double io_wait_s = 0;  // all steps
  double compute_s = 0;  // all steps
  std::int64_t steps = 0;
  std::int64_t samples = 0;
};

// One rank's summary. Fewer than two steps leave AU undefined (0).
IoSummary summarize_rank(const std::vector<IoStep>& steps);
// The job's: AU is the mean over ranks; samples/s and MB/s add up; times are the slowest
// rank's.
IoSummary summarize_job(const std::vector<IoSummary>& ranks);

// "key=value" lines of a summary, as `repipe bench io` prints them.
std::string io_summary_lines(const IoSummary& summary, double au_threshold_percent);

}  // namespace repipe
