// datasets/io_emulation.cc: the emulated training loop and MLPerf Storage's arithmetic.
#include "datasets/io_emulation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/error.h"
#include "common/precise_sleep.h"
#include "common/seed.h"

namespace repipe {
namespace {

// A standard normal draw from two splitmix64 words (Box-Muller).
double normal(std::uint64_t seed, std::int64_t step) {
  const std::uint64_t a = mix_seed(seed, static_cast<std::uint64_t>(2 * step));
  const std::uint64_t b = mix_seed(seed, static_cast<std::uint64_t>(2 * step + 1));
  const double u1 = (static_cast<double>(a >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(b >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace

double SteadyClock::now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void SteadyClock::sleep_s(double seconds) {
  sleep_precisely(std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9)));
}

std::vector<IoStep> run_io_emulation(
    std::int64_t steps, const std::function<std::pair<std::int64_t, std::int64_t>()>& load,
    const ComputeTime& compute, std::uint64_t seed, Clock& clock,
    const std::function<void()>& barrier, const std::function<void(const IoStep&)>& on_step) {
  std::vector<IoStep> out;
  const double origin = clock.now_s();
  for (std::int64_t s = 1; s <= steps; ++s) {
    IoStep step;
    step.step = s;
    step.start_s = clock.now_s() - origin;
    const auto [samples, bytes] = load();
    step.samples = samples;
    step.bytes = bytes;
    step.loaded_s = clock.now_s() - origin;
    const double sleep = std::max(
        0.0, compute.mean_s + (compute.stdev_s > 0 ? compute.stdev_s * normal(seed, s) : 0));
    clock.sleep_s(sleep);
    step.computed_s = clock.now_s() - origin;
    if (barrier) barrier();
    step.end_s = clock.now_s() - origin;
    out.push_back(step);
    if (on_step) on_step(step);
  }
  return out;
}

IoSummary summarize_rank(const std::vector<IoStep>& steps) {
  IoSummary s;
  s.steps = static_cast<std::int64_t>(steps.size());
  if (steps.empty()) return s;
  s.wall_s = steps.back().end_s - steps.front().start_s;
  double compute_after_first = 0;
  std::int64_t bytes = 0;
  for (const IoStep& step : steps) {
    s.samples += step.samples;
    bytes += step.bytes;
    s.io_wait_s += step.io_wait_s();
    s.compute_s += step.compute_s();
    if (step.step != steps.front().step) compute_after_first += step.compute_s();
  }
  const double wall_after_first = steps.back().end_s - steps.front().end_s;
  if (steps.size() >= 2 && wall_after_first > 0) {
    s.au_percent = 100.0 * compute_after_first / wall_after_first;
  }
  if (s.wall_s > 0) {
    s.samples_per_s = static_cast<double>(s.samples) / s.wall_s;
    s.mb_per_s = static_cast<double>(bytes) / 1e6 / s.wall_s;
  }
  return s;
}

IoSummary summarize_job(const std::vector<IoSummary>& ranks) {
  REPIPE_CHECK(!ranks.empty(), "no ranks");
  IoSummary job;
  for (const IoSummary& r : ranks) {
    job.au_percent += r.au_percent / static_cast<double>(ranks.size());
    job.samples_per_s += r.samples_per_s;
    job.mb_per_s += r.mb_per_s;
    job.samples += r.samples;
    job.wall_s = std::max(job.wall_s, r.wall_s);
    job.io_wait_s = std::max(job.io_wait_s, r.io_wait_s);
    job.compute_s = std::max(job.compute_s, r.compute_s);
    job.steps = std::max(job.steps, r.steps);
  }
  return job;
}

std::string io_summary_lines(const IoSummary& s, double au_threshold_percent) {
  char text[512];
  std::snprintf(text, sizeof text,
                "au_percent=%.2f\nau_threshold_percent=%.1f\nau_pass=%s\nsamples_per_s=%.1f\n"
                "mb_per_s=%.2f\nsteps=%lld\nwall_s=%.3f\nio_wait_s=%.3f\ncompute_s=%.3f\n",
                s.au_percent, au_threshold_percent,
                s.au_percent >= au_threshold_percent ? "yes" : "no", s.samples_per_s, s.mb_per_s,
                static_cast<long long>(s.steps), s.wall_s, s.io_wait_s, s.compute_s);
  return text;
}

}  // namespace repipe
