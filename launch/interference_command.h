// launch/interference_command.h: `repipe profile interference`: collect the interference dataset
// (probes alone and beside `repipe stress` co-runners) for the slowdown predictor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace repipe {

struct InterferenceCommand {
  std::string device = "cpu";
  std::vector<std::string> probes;  // empty: default_probe_specs()
  std::vector<std::string> kinds = {"compute", "memory", "mixed"};
  std::vector<double> intensities = {0.25, 0.5, 0.75, 1.0};
  std::vector<int> corunners = {1, 2};
  std::vector<std::string> placements = {"same", "other"};
  int repeats = 2;
  int runs = 5;
  double measure_s = 0.1;
  double settle_s = 0.2;
  double sample_s = 0.3;
  int probe_core = 0;
  std::int64_t seed = 1;
  std::string output = "interference.csv";
};

// Adds `interference` under `profile`; the returned object fills `command` during parsing.
CLI::App* add_interference_command(CLI::App& profile, InterferenceCommand& command);

// Runs the collection, writing rows as they are measured to OUTPUT.partial, renamed to OUTPUT at
// the end (an interrupted run leaves whole rows in the .partial file, never a short OUTPUT).
// Bad input is a UsageError, checked before any measuring.
int run_interference_command(const InterferenceCommand& command);

}  // namespace repipe
