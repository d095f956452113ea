// inference/latency_presets.cc: the preset table (DynWork's generate_multimodal_synthesized.py)
// and the quantile grid.
#include "inference/latency_presets.h"

#include <algorithm>
#include <thread>

#include "common/error.h"

namespace repipe {
namespace {

// Means (i - offset) * spacing for i = 0..n-1, all sigmas 1.
LatencyPreset spaced(const std::string& name, int n, int offset, double spacing,
                     std::int64_t jobs) {
  LatencyPreset preset{name, "Modal_num", {}, std::vector<double>(n, 1.0), jobs};
  for (int i = 0; i < n; ++i) preset.mu.push_back((i - offset) * spacing);
  return preset;
}

}  // namespace

const std::vector<LatencyPreset>& latency_presets() {
  static const std::vector<LatencyPreset> presets = {
      {"one_modal", "Modal_num", {0}, {1}, 200},
      {"two_modal", "Modal_num", {-3, 3}, {1, 1}, 200},
      {"three_modal", "Modal_num", {-6, 0, 6}, {1, 1, 1}, 200},
      spaced("four_modal", 4, 2, 10, 800),
      spaced("five_modal", 5, 3, 15, 800),
      spaced("six_modal", 6, 3, 20, 800),
      spaced("seven_modal", 7, 4, 50, 2500),
      spaced("eight_modal", 8, 4, 60, 2500),
      {"std_0.5", "Equal_Std", {-3, 3}, {0.5, 0.5}, 200},
      {"std_1", "Equal_Std", {-3, 3}, {1, 1}, 200},
      {"std_2", "Equal_Std", {-3, 3}, {2, 2}, 200},
      {"left_0.5_right_2", "Not_Equal_Std", {-3, 3}, {0.5, 2}, 200},
      {"left_2_right_0.5", "Not_Equal_Std", {-3, 3}, {2, 0.5}, 200},
  };
  return presets;
}

const LatencyPreset& find_latency_preset(const std::string& name) {
  std::string names;
  for (const LatencyPreset& preset : latency_presets()) {
    if (preset.name == name) return preset;
    names += (names.empty() ? "" : ", ") + preset.name;
  }
  throw UsageError("unknown preset '" + name + "'; expected all or one of: " + names);
}

std::vector<JobLatency> mixture_quantile_grid(const GaussianMixture& mixture, std::int64_t jobs) {
  REPIPE_CHECK(jobs >= 2, "latency grid of " << jobs << " jobs");
  const double n = static_cast<double>(jobs);
  const double p0 = 1 / (100 * n);
  std::vector<JobLatency> grid(static_cast<std::size_t>(jobs));
  // Sweeps over increasing p, each point a Newton step or two from the last; the grid is cut in
  // one sweep per core, each starting from scratch.
  auto sweep = [&](std::int64_t begin, std::int64_t end) {
    double x = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      const double p = p0 + (1 - 2 * p0) * static_cast<double>(i) / (n - 1);
      x = i == begin ? mixture.quantile(p) : mixture.quantile(p, x);
      grid[static_cast<std::size_t>(i)] = {x, mixture.most_likely_component(x)};
    }
  };
  const std::int64_t parts =
      jobs < 100000 ? 1 : std::max<std::int64_t>(1, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (std::int64_t t = 1; t < parts; ++t)
    threads.emplace_back(sweep, jobs * t / parts, jobs * (t + 1) / parts);
  sweep(0, jobs / parts);
  for (std::thread& thread : threads) thread.join();
  return grid;
}

std::vector<JobLatency> mixture_latency_grid(const GaussianMixture& mixture, std::int64_t jobs,
                                             double min_ms, double max_ms) {
  REPIPE_CHECK(min_ms < max_ms, "latency range [" << min_ms << ", " << max_ms << "]");
  std::vector<JobLatency> grid = mixture_quantile_grid(mixture, jobs);
  const double low = grid.front().ms;
  const double range = grid.back().ms - low;
  for (JobLatency& job : grid) job.ms = min_ms + (job.ms - low) / range * (max_ms - min_ms);
  grid.back().ms = max_ms;  // exactly, not within rounding
  return grid;
}

}  // namespace repipe
