// launch/workload_command.h: `repipe workload synth`: DynWork's synthesized inference workloads
// (inference/synthetic_workload.h), one preset or all of them.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace repipe {

struct WorkloadCommand {
  std::string action;  // synth: the subcommand given (set while parsing)
  std::string preset;
  std::string trace = "worldcup";
  std::int64_t jobs = 0;  // 0: the preset's DynWork count
  int batch = 8;
  double rate_downgrade = 0.25;
  int trace_num = 50;
  std::string arrivals = "even";
  std::string latency_range = "10,100";
  std::string sample;  // a folder of `repipe workload sample` (requests.csv, batch.csv)
  std::uint64_t seed = 1;
  bool plot = true;
  std::string output;
};

CLI::App* add_workload_command(CLI::App& app, WorkloadCommand& command);

// Writes the workload folder(s) and prints one line per preset. Bad input (an unknown preset,
// a malformed or empty trace, a rate <= 0, ...) is a UsageError (exit 2) and leaves no folder.
int run_workload_command(const WorkloadCommand& command);

}  // namespace repipe
