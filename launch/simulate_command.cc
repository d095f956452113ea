#include "launch/simulate_command.h"

#include <cstdio>

#include <CLI/CLI.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/text_format.h"
#include "partitioner/plan.h"
#include "partitioner/schedule_simulator.h"
#include "partitioner/straight_planner.h"

namespace repipe {

CLI::App* add_simulate_command(CLI::App& app, SimulateCommand& command) {
  CLI::App* simulate = app.add_subcommand(
      "simulate", "Predict a plan's step timeline from a profile (table and Chrome trace)");
  simulate->add_option("--plan", command.plan_path, "plan TOML (repipe plan writes one)")
      ->required();
  simulate->add_option("--profile", command.profile_path, "profile CSV or PipeDream graph")
      ->required();
  simulate->add_option("--schedule", command.schedule, "override the plan's schedule");
  simulate->add_option("--microbatches", command.microbatches, "override the plan's micro-batches");
  simulate->add_option("--optimizer", command.optimizer, "sgd | adam | adamw (memory estimate)");
  command.cluster.add_to(*simulate);
  simulate->add_option("-o,--output", command.output, "Chrome trace JSON of the predicted step");
  return simulate;
}

int run_simulate_command(const SimulateCommand& c) {
  Plan plan = load_plan(c.plan_path);
  Profile profile = load_profile(c.profile_path);
  if (!c.schedule.empty()) plan.schedule = c.schedule;
  if (c.microbatches > 0) plan.microbatches = c.microbatches;
  validate_plan(plan, plan.model, static_cast<std::int64_t>(profile.blocks.size()),
                plan.world_size(), c.plan_path + " (against " + c.profile_path + ")");
  const int copies = c.optimizer == "sgd"                              ? 1
                     : c.optimizer == "adam" || c.optimizer == "adamw" ? 2
                                                                       : -1;
  if (copies < 0)
    throw UsageError("--optimizer: expected sgd, adam or adamw, got '" + c.optimizer + "'");
  const ScheduleKind kind = parse_schedule_kind(plan.schedule);
  const int m = static_cast<int>(plan.microbatches);
  CostModel cost(profile, c.cluster.cluster(plan.world_size()), TrainingSetup{kind, m, copies});
  PlanEstimate estimate = estimate_straight_plan(cost, plan, /*simulate=*/false);
  StageTimes times = stage_times_for_simulation(cost, estimate);
  const int stages = static_cast<int>(plan.stages.size());
  Schedule schedule = make_schedule(kind, stages, m);
  SimulationResult result = simulate(schedule, times);

  std::printf("%s on %s: %d stages, %s, %d micro-batches\n", c.plan_path.c_str(),
              c.profile_path.c_str(), stages, plan.schedule.c_str(), m);
  std::printf("%-6s %-8s %10s %10s %10s %8s %10s %12s\n", "stage", "blocks", "forward", "backward",
              "busy ms", "util", "in flight", "memory");
  for (int s = 0; s < stages; ++s) {
    const std::string blocks = std::to_string(plan.stages[s].first_block) + "-" +
                               std::to_string(plan.stages[s].last_block);
    std::printf("%-6d %-8s %10.2f %10.2f %10.2f %7.0f%% %10d %12s\n", s, blocks.c_str(),
                times.forward_ms[s], times.backward_ms[s], result.busy_ms[s],
                100 * result.utilisation[s], result.peak_in_flight[s],
                human_bytes(result.peak_memory_bytes[s]).c_str());
  }
  std::printf("predicted step %.2f ms, bubble %.1f%%, %.1f samples/s\n", result.step_time_ms,
              100 * result.bubble_fraction,
              static_cast<double>(plan.global_batch()) / (result.step_time_ms / 1e3));
  if (!c.output.empty()) {
    write_file_atomically(c.output, chrome_trace_json(schedule, result));
    std::printf("wrote %s (open in https://ui.perfetto.dev beside a run's trace.json)\n",
                c.output.c_str());
  }
  return 0;
}

}  // namespace repipe
