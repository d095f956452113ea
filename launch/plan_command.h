// launch/plan_command.h: `repipe plan`: a partition of a profiled model onto devices, written as
// a plan TOML that `repipe train --plan` runs as it is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "launch/cluster_flags.h"

namespace CLI {
class App;
}

namespace repipe {

struct PlanCommand {
  std::string profile_path;         // --profile
  std::string model;                // --model: the plan's model; empty: emulated:<profile>
  int stages = 0;                   // --stages: a straight pipeline
  int gpus = 0;                     // --gpus: PipeDream's DP, stages may be replicated
  std::string algorithm = "exact";  // exact | pipedream | uniform | params | greedy
  std::string schedule = "1f1b-flush";
  int microbatches = 0;              // 0: the number of stages (or GPUs)
  std::int64_t microbatch_size = 0;  // 0: the profile's batch size, or 1
  ClusterFlags cluster;
  std::string optimizer = "sgd";  // sgd | adam | adamw: optimizer state in the memory estimate
  std::string output;             // -o: the plan TOML
};

CLI::App* add_plan_command(CLI::App& app, PlanCommand& command);

// Prints the per-stage table and the prediction, writes the plan. Bad input: UsageError (exit
// 2); a memory limit no plan fits: a message with the smallest memory that fits, exit 1.
int run_plan_command(const PlanCommand& command);

}  // namespace repipe
