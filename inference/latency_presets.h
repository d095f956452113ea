// inference/latency_presets.h: DynWork's 13 synthesized latency distributions, and the latencies
// of N jobs drawn from one as the quantiles of its mixture.
//
// DynWork drew 100x as many samples as jobs, min-max normalised them to [10, 100] ms, sorted
// them and kept every 100th (plus the last). The same grid, computed exactly: N probabilities
// evenly spaced from p0 to 1 - p0, with p0 = 1 / (100 N) where DynWork's sample minimum falls,
// mapped through the mixture's inverse CDF, then linearly onto [min_ms, max_ms] so that the first
// and last jobs sit at the ends. Each job keeps the modality it came from: the component most
// likely at its value (DynWork shuffled values and modalities apart; see
// ../shared/reference/dynwork-deinfer.md A.3).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference/gaussian_mixture.h"

namespace repipe {

struct LatencyPreset {
  std::string name;   // DynWork's task name: one_modal, ..., std_0.5, left_0.5_right_2, ...
  std::string group;  // DynWork's task folder: Modal_num, Equal_Std, Not_Equal_Std
  std::vector<double> mu, sigma;  // before normalisation
  std::int64_t jobs = 0;          // DynWork's job count for it
};

const std::vector<LatencyPreset>& latency_presets();
// An unknown name is a UsageError listing the presets.
const LatencyPreset& find_latency_preset(const std::string& name);

struct JobLatency {
  double ms = 0;
  int modality = 0;
};

// `jobs` >= 2 latencies in increasing order (see the file comment); min_ms < max_ms.
std::vector<JobLatency> mixture_latency_grid(const GaussianMixture& mixture, std::int64_t jobs,
                                             double min_ms, double max_ms);
// The same quantiles, not scaled (`repipe workload real`: the mixture is in ms already).
std::vector<JobLatency> mixture_quantile_grid(const GaussianMixture& mixture, std::int64_t jobs);

}  // namespace repipe
