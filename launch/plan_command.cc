#include "launch/plan_command.h"

#include <cmath>
#include <cstdio>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/text_format.h"
#include "partitioner/baseline_planners.h"
#include "partitioner/pipedream_planner.h"
#include "partitioner/plan.h"
#include "partitioner/straight_planner.h"

namespace repipe {
namespace {

int optimizer_copies(const std::string& optimizer) {
  if (optimizer == "sgd") return 1;  // momentum
  if (optimizer == "adam" || optimizer == "adamw") return 2;
  throw UsageError("--optimizer: expected sgd, adam or adamw, got '" + optimizer + "'");
}

std::string ms(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

// How to train `plan`, written to `path`. An emulated model ("emulated:PROFILE") keeps and sends
// its profile's bytes, and on this one host all its stages share the memory and the cores that
// copy its tensors: if they need more than a sixteenth of the memory, the line adds the
// --bytes-scale (a power of 10) that brings them under it, and says why.
void print_train_hint(const CostModel& cost, const Plan& plan, const std::string& path) {
  std::string line = "scripts/mpirun.sh -np " + std::to_string(plan.world_size()) +
                     " build/launch/repipe train --plan " + path;
  const bool emulated = plan.model.rfind("emulated:", 0) == 0;
  double needed = 0;
  const int stages = static_cast<int>(plan.stages.size());
  for (int s = 0; emulated && s < stages; ++s) {
    const StagePlan& stage = plan.stages[s];
    needed += static_cast<double>(stage.ranks.size()) *
              static_cast<double>(
                  cost.stage_memory_bytes(stage.first_block, stage.last_block, s, stages));
  }
  const double host = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) *
                      static_cast<double>(::sysconf(_SC_PAGE_SIZE));
  const double budget = host / 16;
  if (emulated && budget > 0 && needed > budget) {
    const double scale = std::pow(10.0, -std::ceil(std::log10(needed / budget)));
    line += " --bytes-scale " + format_double(scale);
    std::printf(
        "(the emulated stages hold %s together and this host has %s: --bytes-scale %s "
        "shrinks their tensors and messages)\n",
        human_bytes(needed).c_str(), human_bytes(host).c_str(), format_double(scale).c_str());
  }
  std::printf("wrote %s (train it: %s)\n", path.c_str(), line.c_str());
}

void print_straight(const CostModel& cost, const Plan& plan, bool simulate) {
  PlanEstimate estimate = estimate_straight_plan(cost, plan, simulate);
  std::printf("%-6s %-7s %-28s %12s %12s %12s %10s\n", "stage", "device", "blocks", "compute ms",
              "comm ms", "memory", "idle");
  for (std::size_t s = 0; s < estimate.stages.size(); ++s) {
    const StageEstimate& e = estimate.stages[s];
    const std::string blocks = std::to_string(e.first_block) + "-" + std::to_string(e.last_block) +
                               " (" + cost.profile().blocks[e.first_block].name + ")";
    // A stage idles for the part of each micro-batch slot the bottleneck leaves it.
    const double idle = 1.0 - e.compute_ms / estimate.bottleneck_ms;
    std::printf("%-6zu %-7d %-28.28s %12s %12s %12s %9.0f%%\n", s, e.device, blocks.c_str(),
                ms(e.compute_ms).c_str(), ms(e.boundary_ms).c_str(),
                human_bytes(static_cast<double>(e.memory_bytes)).c_str(), 100 * idle);
  }
  const double samples = static_cast<double>(plan.global_batch());
  std::printf("predicted: step %s ms, bottleneck %s ms, bubble %.1f%%, %.1f samples/s\n",
              ms(estimate.step_time_ms).c_str(), ms(estimate.bottleneck_ms).c_str(),
              100 * estimate.bubble_fraction, samples / (estimate.step_time_ms / 1e3));
}

}  // namespace

CLI::App* add_plan_command(CLI::App& app, PlanCommand& command) {
  CLI::App* plan = app.add_subcommand(
      "plan", "Partition a profiled model onto devices and write a plan for `repipe train --plan`");
  plan->add_option("--profile", command.profile_path, "profile CSV or PipeDream graph")->required();
  plan->add_option("--model", command.model,
                   "the plan's model (a zoo name); default: emulated:PROFILE");
  plan->add_option("--stages", command.stages, "a straight pipeline of N stages");
  plan->add_option("--gpus", command.gpus, "N GPUs; stages may be replicated (PipeDream's DP)");
  plan->add_option(
      "--algorithm", command.algorithm,
      "exact | pipedream | uniform (by blocks) | params (by bytes) | greedy (by time)");
  plan->add_option("--schedule", command.schedule, "gpipe | 1f1b-flush | 1f1b-stash");
  plan->add_option("--microbatches", command.microbatches, "micro-batches per step (0: stages)");
  plan->add_option("--microbatch-size", command.microbatch_size,
                   "samples per micro-batch (0: the profile's batch size)");
  command.cluster.add_to(*plan);
  plan->add_option("--optimizer", command.optimizer, "sgd | adam | adamw (memory estimate)");
  plan->add_option("-o,--output", command.output, "the plan TOML to write");
  return plan;
}

int run_plan_command(const PlanCommand& c) {
  if ((c.stages > 0) == (c.gpus > 0)) {
    throw UsageError("plan: give exactly one of --stages N (a straight pipeline) and --gpus N");
  }
  Profile profile = load_profile(c.profile_path);
  const int devices = c.stages > 0 ? c.stages : c.gpus;
  TrainingSetup setup{parse_schedule_kind(c.schedule),
                      c.microbatches > 0 ? c.microbatches : devices, optimizer_copies(c.optimizer)};
  CostModel cost(profile, c.cluster.cluster(devices), setup);
  PlanRequest request;
  request.model = c.model.empty() ? "emulated:" + c.profile_path : c.model;
  request.stages = devices;
  // Simulating breaks ties and predicts exactly, but at hundreds of stages and thousands of
  // micro-batches it takes seconds: then the estimate is analytic.
  constexpr long kMostSimulatedActions = 1L << 18;
  request.simulate = static_cast<long>(devices) * setup.microbatches <= kMostSimulatedActions;
  if (!request.simulate) std::printf("(too large to simulate quickly: analytic estimate)\n");
  request.microbatch_size = c.microbatch_size > 0    ? c.microbatch_size
                            : profile.batch_size > 0 ? profile.batch_size
                                                     : 1;
  if (!profile.note.empty()) std::printf("profile: %s\n", profile.note.c_str());

  Plan plan;
  if (c.gpus > 0) {
    if (c.algorithm != "pipedream" && c.algorithm != "exact") {
      throw UsageError("--algorithm: with --gpus, expected pipedream, got '" + c.algorithm + "'");
    }
    PipeDreamOptions options;
    // PipeDream's levels: devices within a node, then nodes.
    const Cluster& cluster = cost.cluster();
    const int per_node = cluster.devices_per_node;
    if (per_node > 0 && devices > per_node && devices % per_node == 0) {
      options.levels = {{per_node, cluster.intra_node.bandwidth_bytes_per_s},
                        {devices / per_node, cluster.inter_node.bandwidth_bytes_per_s}};
    } else {
      options.levels = {{devices, cluster.intra_node.bandwidth_bytes_per_s}};
    }
    options.memory_size_bytes = static_cast<double>(cost.cluster().memory_of(0));
    PipeDreamResult result = plan_pipedream(cost, options, request);
    plan = result.plan;
    std::printf("%-6s %-12s %-28s %12s %12s\n", "stage", "ranks", "blocks", "compute ms",
                "stage ms");
    for (std::size_t s = 0; s < result.stages.size(); ++s) {
      const PipeDreamStage& stage = result.stages[s];
      std::string ranks;
      for (int r : plan.stages[s].ranks) ranks += (ranks.empty() ? "" : ",") + std::to_string(r);
      const std::string blocks = std::to_string(stage.first_block) + "-" +
                                 std::to_string(stage.last_block) + " (" +
                                 profile.blocks[stage.first_block].name + ")";
      std::printf("%-6zu %-12s %-28.28s %12s %12s\n", s, ranks.c_str(), blocks.c_str(),
                  ms(stage.compute_ms).c_str(), ms(stage.time_ms).c_str());
    }
    std::printf(
        "predicted (PipeDream's model): %s ms per micro-batch; 1 GPU %s ms, data parallel "
        "%s ms\n",
        ms(result.pipeline_time_ms).c_str(), ms(result.single_stage_time_ms).c_str(),
        ms(result.data_parallel_time_ms).c_str());
  } else {
    try {
      if (c.algorithm == "exact") {
        plan = plan_straight_pipeline(cost, request);
      } else if (c.algorithm == "uniform") {
        plan = plan_uniform_by_blocks(cost, request);
      } else if (c.algorithm == "params") {
        plan = plan_by_parameter_bytes(cost, request);
      } else if (c.algorithm == "greedy") {
        plan = plan_greedy_by_time(cost, request);
      } else {
        throw UsageError(
            "--algorithm: expected exact, uniform, params or greedy with --stages, "
            "got '" +
            c.algorithm + "'");
      }
    } catch (const NoPlanFits& error) {
      std::fprintf(stderr,
                   "repipe plan: no plan fits %s per device; the smallest memory that fits is %s "
                   "(%lld bytes)\n",
                   human_bytes(static_cast<double>(cost.cluster().memory_of(0))).c_str(),
                   human_bytes(static_cast<double>(error.min_memory_bytes())).c_str(),
                   static_cast<long long>(error.min_memory_bytes()));
      return 1;
    }
    print_straight(cost, plan, request.simulate);
  }
  plan.schedule = c.schedule;
  plan.microbatches = setup.microbatches;
  if (!c.output.empty()) {
    save_plan(plan, c.output);
    print_train_hint(cost, plan, c.output);
  }
  return 0;
}

}  // namespace repipe
