// launch/optimize_command.h: `repipe optimize`: IPA's inference-pipeline configuration. For a
// pipeline of model variants (pipeline.toml), a request rate and an end-to-end SLA, the variant,
// batch and replicas of every stage, printed as a table and written as a plan TOML.
#pragma once

#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace repipe {

struct OptimizeCommand {
  std::string pipeline_path;    // --pipeline
  double rate_per_s = 0;        // --rate
  double sla_ms = 0;            // --sla
  std::string solver = "fast";  // brute | milp | fast
  // Override the pipeline file's objective weights and replica cap when given.
  std::optional<double> alpha, beta, gamma;
  std::optional<int> max_replicas;
  std::string output;  // -o: the plan TOML; empty: print only
};

CLI::App* add_optimize_command(CLI::App& app, OptimizeCommand& command);

// Bad input: UsageError (exit 2). No configuration meets the rate and the SLA: Infeasible naming
// the constraint (exit 1), and no plan is written.
int run_optimize_command(const OptimizeCommand& command);

}  // namespace repipe
