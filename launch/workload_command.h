// launch/workload_command.h: `repipe workload synth|real|sample`: DynWork's inference workloads,
// synthesized from a preset (inference/synthetic_workload.h) or from a measured sample, and the
// measurement of such a sample on a zoo model (inference/latency_sampler.h).
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace repipe {

struct WorkloadCommand {
  std::string action;  // synth | real | sample: the subcommand given (set while parsing)
  std::string preset;
  std::string trace = "worldcup";
  std::int64_t jobs = 0;  // 0: the preset's DynWork count (synth), 1000 (real)
  int batch = 8;
  double rate_downgrade = 0.25;
  int trace_num = 0;  // 0: DynWork's 50 (synth), 100 (real)
  std::string arrivals = "even";
  std::string latency_range = "10,100";
  std::string sample;  // a folder of `repipe workload sample` (requests.csv, batch.csv)
  std::uint64_t seed = 1;
  bool plot = true;
  std::string output;
  // sample
  std::string model;
  std::string device = "cpu";
  std::int64_t num = 500;
  std::int64_t max_batch = 16;
  std::int64_t min_len = 4;
  std::int64_t max_len = 0;
  std::int64_t max_new_tokens = 16;
};

CLI::App* add_workload_command(CLI::App& app, WorkloadCommand& command);

// synth and real write the workload folder(s) and print one line per workload; sample writes the
// sample folder and prints its latency percentiles. Bad input (an unknown preset or model, a
// malformed or empty trace or sample, a rate <= 0, ...) is a UsageError (exit 2) and leaves no
// folder.
int run_workload_command(const WorkloadCommand& command);

}  // namespace repipe
