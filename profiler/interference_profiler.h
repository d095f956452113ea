// profiler/interference_profiler.h: the interference dataset's collection: probe workloads run
// alone and beside `repipe stress` co-runners of many kinds, intensities, counts and placements.
//
// `repipe profile interference` runs it. Each probe is a slice of a zoo model at a batch size,
// run forward and backward as a pipeline stage runs it. For every stress configuration the
// co-runners start, the load on the probe's core is sampled while only they run (as DynPipe
// samples its stragglers), the probes are timed beside them, and the co-runners stop. The alone
// time is measured between every two configurations and each slowdown divides by the mean of
// the two that bracket it, so slow drifts of the machine do not pass for interference.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "profiler/interference_data.h"

namespace repipe {

// "<model>[:<first>-<last>]@<batch>", e.g. "mlp@256" (every block) or "resnet-mini:1-3@16".
struct ProbeSpec {
  std::string model;
  int first_block = -1;  // -1: from the first block
  int last_block = -1;   // -1: to the last block
  std::int64_t batch_size = 0;
};

// A bad spec is a UsageError naming the spec and the expected form.
ProbeSpec parse_probe_spec(std::string_view text);

// The probes `repipe profile interference` uses by default: slices of eight zoo models, from
// fully connected to convolutional to attention, at two batch sizes each for some.
const std::vector<std::string>& default_probe_specs();

struct InterferenceOptions {
  std::vector<ProbeSpec> probes;
  std::vector<std::string> kinds = {"compute", "memory", "mixed"};
  std::vector<double> intensities = {0.25, 0.5, 0.75, 1.0};
  std::vector<int> corunners = {1, 2};
  std::vector<std::string> placements = {"same", "other"};  // the probe's core, or another
  int repeats = 2;             // passes over every configuration (the noise floor needs >= 2)
  int runs = 5;                // timed probe runs per measurement at least; the median counts
  double measure_s = 0.1;      // and at least this long: VM noise comes in bursts of ~10 ms
  double settle_s = 0.2;       // after the co-runners start, before sampling
  double sample_s = 0.3;       // the load sample's passive window
  int probe_core = 0;          // the CPU the probes (and the load micro-probes) run on
  std::string stress_program;  // the `repipe` binary that runs `repipe stress`
  std::uint64_t seed = 1;
  // Progress: called before each configuration with its index, the total and a description.
  std::function<void(std::int64_t done, std::int64_t total, const std::string& what)> on_progress;
  // Called for every measured row, in order (the caller writes it).
  std::function<void(const InterferenceRecord&)> on_record;
};

// Checks options (kinds, intensities in (0, 1], corunners >= 1, placements, repeats >= 1,
// runs >= 1, a core on this machine, probes that build); a bad one is a UsageError.
void validate_interference_options(const InterferenceOptions& options);

// Collects every (repeat, configuration, probe) row, plus one "none" configuration per repeat
// (no co-runner: the noise of the alone measurement itself). Pins the calling thread to
// `probe_core` and libtorch to one thread for the duration.
void collect_interference(const InterferenceOptions& options);

}  // namespace repipe
