// launch/allocate_command.h: `repipe allocate profile|plan|cusum|simulate`: GPU allocation for
// inference serving (DeInfer done right): measure a model repository entry
// (inference/runtime_profiler.h), plan batch sizes, GPU shares and GPUs for a load
// (inference/gpu_allocator.h), and detect rate changes in an arrival series
// (inference/rate_cusum.h), and serve a plan in simulation (inference/serving_simulator.h;
// launch/allocate_simulate.cc). Each subcommand is an add_* function and a run_* function,
// dispatched on `action`.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace repipe {

struct AllocateCommand {
  std::string
      action;  // profile | plan | cusum | simulate: the subcommand given (set while parsing)
  std::string output;
  // profile
  std::string model;
  std::string device = "cpu";
  std::string batch_sizes = "1,2,4,8,16";
  std::string shares = "10,20,30,40,50,60,70,80,90,100";
  std::string share_method = "auto";
  int threads = 0;
  int warmup = 3;
  int repeats = 10;
  double slo_ms = 0;
  std::uint64_t seed = 1;
  std::string share_rows;  // internal: a child measuring its MPS share writes its rows here
  // plan
  std::string repo;
  std::string load;
  int gpus = 1;
  std::string policy = "deinfer";
  std::string predictor;
  int min_share = 10;
  double margin = 0.95;
  // cusum
  std::string rates;
  double threshold = 50;
  double drift = 0;
  int window = 20;
  std::string initial_rate;  // empty: the first observation
  // simulate (also repo, predictor, threshold, drift, window, seed)
  std::string plan;
  std::string jobs;   // a `repipe workload` jobs.bucketed.csv, or
  std::string trace;  // a trace's shape at the plan's rates
  double duration_s = 600;
  double period_s = 1;
  bool no_reallocate = false;
  bool absolute_cusum = false;  // --threshold or --drift given: DeInfer's fixed h and k
};

CLI::App* add_allocate_command(CLI::App& app, AllocateCommand& command);
// The simulate subcommand (launch/allocate_simulate.cc).
void add_allocate_simulate(CLI::App* allocate, AllocateCommand& command);
int run_allocate_simulate(const AllocateCommand& command);

// profile writes REPO/<model>/{model.toml,runtime.csv} and prints what it measured; plan prints
// the allocation as a table and writes plan.toml with -o; cusum prints one line per alarm and
// writes them as a CSV with -o; simulate prints the deadline misses and latencies per model and
// writes its tables and timeline to -o. Bad input is a UsageError (exit 2), a load no allocation
// serves is Infeasible (exit 1); nothing is half-written.
int run_allocate_command(const AllocateCommand& command);

}  // namespace repipe
