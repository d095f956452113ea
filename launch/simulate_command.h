// launch/simulate_command.h: `repipe simulate`: the predicted timeline of a plan on a profile, as
// a table and a Chrome trace to set beside the engine's measured trace.json.
#pragma once

#include <string>

#include "launch/cluster_flags.h"

namespace CLI {
class App;
}

namespace repipe {

struct SimulateCommand {
  std::string plan_path;     // --plan
  std::string profile_path;  // --profile
  std::string schedule;      // overrides the plan's
  int microbatches = 0;      // overrides the plan's
  std::string optimizer = "sgd";
  ClusterFlags cluster;
  std::string output;  // -o: Chrome trace JSON
};

CLI::App* add_simulate_command(CLI::App& app, SimulateCommand& command);
int run_simulate_command(const SimulateCommand& command);

}  // namespace repipe
