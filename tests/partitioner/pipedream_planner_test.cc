// Tests of PipeDream's optimizer with replication: against brute force over every split and
// every replication on tiny instances, against the straight planner, and against PipeDream's own
// optimizer output on the bundled profiles (VGG16, ResNet-50; pipedream_reference.md).
#include "partitioner/pipedream_planner.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "common/csv_reader.h"
#include "common/error.h"
#include "partitioner/profile.h"

namespace repipe {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// PipeDream's objective for one level, from its formulas, for every split and replication.
double brute_force_pipedream(const CostModel& cost, const PipeDreamOptions& options) {
  const std::int64_t blocks = cost.num_blocks();
  const int machines = options.levels.front().machines;
  const double bandwidth = options.levels.front().bandwidth_bytes_per_s;
  auto stage_ms = [&](std::int64_t first, std::int64_t last, int r) {
    const double all_reduce =
        1e3 * 4.0 * (r - 1) * static_cast<double>(cost.param_bytes(first, last)) / (bandwidth * r);
    return (cost.stage_compute_ms(first, last, 0) + all_reduce) / r;
  };
  auto transfer_ms = [&](std::int64_t k, int r) {
    if (options.activation_compression_ratio <= 0 || k >= blocks - 1) return 0.0;
    return 1e3 * 2.0 * static_cast<double>(cost.profile().blocks[k].output_bytes) /
           (bandwidth * r) / options.activation_compression_ratio;
  };
  double best = kInf;
  // Stages are appended one at a time: (next block, machines allotted, bottleneck so far). As in
  // PipeDream, a stage's memory counts the machines allotted up to it, idle ones included.
  std::function<void(std::int64_t, int, double)> extend = [&](std::int64_t first, int allotted,
                                                              double bottleneck) {
    if (first == blocks) {
      if (allotted == machines || options.use_fewer_machines) best = std::min(best, bottleneck);
      return;
    }
    if (options.use_fewer_machines && first > 0 && allotted < machines) {
      extend(first, allotted + 1, bottleneck);  // leave a machine idle after the last stage
    }
    for (std::int64_t last = first; last < blocks; ++last) {
      for (int r = 1; allotted + r <= machines; ++r) {
        if (options.straight_pipeline && r > 1) break;
        const int allotted_now = allotted + r;
        if (options.memory_size_bytes > 0) {
          const double in_flight = std::ceil(static_cast<double>(machines - allotted_now) / r);
          const double bytes = static_cast<double>(cost.activation_bytes(first, last) +
                                                   cost.param_bytes(first, last));
          if (in_flight * bytes > options.memory_size_bytes) continue;
        }
        double time = std::max(bottleneck, stage_ms(first, last, r));
        if (first > 0) time = std::max(time, transfer_ms(first - 1, r));
        time = std::max(time, transfer_ms(last, r));
        extend(last + 1, allotted_now, time);
      }
    }
  };
  extend(0, 0, 0.0);
  return best;
}

// (Not "b" + std::to_string(b): GCC 12 warns falsely, -Wrestrict, on that at -O3.)
std::string block_name(int b) {
  std::string name = "b";
  name += std::to_string(b);
  return name;
}

PlanRequest request() {
  PlanRequest r;
  r.model = "toy";
  return r;
}

TEST(PipeDreamPlanner, MatchesBruteForceOnTinyInstances) {
  std::mt19937_64 rng(31);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int infeasible = 0;
  for (int i = 0; i < 400; ++i) {
    SCOPED_TRACE("instance " + std::to_string(i));
    Profile profile;
    const int blocks = uniform(1, 6);
    for (int b = 0; b < blocks; ++b) {
      profile.blocks.push_back({block_name(b), uniform(0, 6) * 0.5, uniform(0, 8) * 0.5,
                                uniform(0, 4) * 100'000, uniform(0, 4) * 250'000,
                                uniform(0, 4) * 100'000});
    }
    PipeDreamOptions options;
    options.levels = {{uniform(1, 4), uniform(0, 1) ? 1e9 : 1e8}};
    options.straight_pipeline = uniform(0, 5) == 0;
    options.use_fewer_machines = uniform(0, 1) == 1;
    options.activation_compression_ratio = uniform(0, 1) ? 0.0 : 1.0 + uniform(0, 2);
    options.memory_size_bytes = uniform(0, 2) == 0 ? uniform(1, 20) * 100'000 : 0;
    const CostModel cost(profile, uniform_cluster(4));
    const double expected = brute_force_pipedream(cost, options);
    if (expected == kInf) {
      ++infeasible;
      EXPECT_THROW(plan_pipedream(cost, options, request()), NoPlanFits);
      continue;
    }
    const PipeDreamResult result = plan_pipedream(cost, options, request());
    EXPECT_NEAR(result.pipeline_time_ms, expected, 1e-9 * expected);
    // The plan it returns achieves the time it claims.
    double slowest = 0;
    int used = 0;
    for (const PipeDreamStage& stage : result.stages) {
      slowest = std::max(slowest, stage.time_ms);
      used += stage.replicas;
    }
    EXPECT_LE(slowest, result.pipeline_time_ms * (1 + 1e-12));
    EXPECT_EQ(used + result.machines_unused, options.levels.front().machines);
    if (!options.use_fewer_machines) {
      EXPECT_EQ(result.machines_unused, 0);
    }
    validate_plan(result.plan, "toy", blocks, used, "test");
  }
  EXPECT_GT(infeasible, 5);
}

TEST(PipeDreamPlanner, StraightPipelineMatchesTheStraightPlanner) {
  const Profile profile =
      load_profile(std::string(REPIPE_SOURCE_DIR) + "/configs/profiles/pipedream-vgg16-graph.txt");
  for (int gpus : {2, 4, 8}) {
    PipeDreamOptions options;
    options.levels = {{gpus, 1e9}};
    options.straight_pipeline = true;
    const CostModel cost(profile, uniform_cluster(gpus));
    const PipeDreamResult pipedream = plan_pipedream(cost, options, request());
    PlanRequest straight = request();
    straight.stages = gpus;
    const Plan plan = plan_straight_pipeline(cost, straight);
    EXPECT_DOUBLE_EQ(pipedream.pipeline_time_ms, plan.prediction->bottleneck_ms) << gpus;
  }
}

// Runs the optimizer on a bundled profile and prints what PipeDream's optimizer prints.
PipeDreamResult plan_profile(const std::string& file, std::vector<PipeDreamLevel> levels) {
  const Profile profile =
      load_profile(std::string(REPIPE_SOURCE_DIR) + "/configs/profiles/" + file);
  PipeDreamOptions options;
  options.levels = std::move(levels);
  const CostModel cost(profile, uniform_cluster(64));
  PipeDreamResult result = plan_pipedream(cost, options, request());
  std::cout << file << " on";
  for (const PipeDreamLevel& level : options.levels) {
    std::cout << " " << level.machines << " x (" << level.bandwidth_bytes_per_s / 1e9 << " GB/s)";
  }
  std::cout << ": " << profile.blocks.size() << " blocks; pipeline " << result.pipeline_time_ms
            << " ms, single stage " << result.single_stage_time_ms << " ms, data parallel "
            << result.data_parallel_time_ms << " ms\n";
  for (const PipeDreamStage& stage : result.stages) {
    std::cout << "  (" << stage.first_block << ", " << stage.last_block + 1 << ") "
              << stage.compute_ms * stage.replicas << " ms x" << stage.replicas << " -> "
              << stage.time_ms << " ms\n";
  }
  return result;
}

TEST(PipeDreamPlanner, BundledProfilesGiveConsistentPlans) {
  for (const char* file : {"pipedream-vgg16-graph.txt", "pipedream-resnet50-graph.txt"}) {
    for (int gpus : {4, 16}) {
      const PipeDreamResult result = plan_profile(file, {{gpus, 1e9}});
      // Never worse than one GPU or than pure data parallelism (both are candidate plans).
      EXPECT_LE(result.pipeline_time_ms, result.single_stage_time_ms);
      EXPECT_LE(result.pipeline_time_ms, result.data_parallel_time_ms * (1 + 1e-12));
      int used = 0;
      for (const PipeDreamStage& stage : result.stages) used += stage.replicas;
      EXPECT_EQ(used, gpus);
    }
    // Two levels: 4 GPUs a server at 10 GB/s, 4 servers at 1 GB/s.
    const PipeDreamResult result = plan_profile(file, {{4, 1e10}, {4, 1e9}});
    int used = 0;
    for (const PipeDreamStage& stage : result.stages) used += stage.replicas;
    EXPECT_EQ(used, 16);
    EXPECT_LE(result.pipeline_time_ms, result.single_stage_time_ms);
  }
}

// The nodes "nodeA..nodeB" of a VGG16 block or stage, from the names of its first and last
// blocks ("pipedream-vgg16.node24", "pipedream-vgg16.node33-node34").
std::string node_range(const Profile& profile, std::int64_t first, std::int64_t last) {
  auto node = [](const std::string& name, bool last_node) {
    const std::string nodes = name.substr(name.find('.') + 1);
    const std::size_t dash = nodes.find('-');
    return dash == std::string::npos ? nodes
                                     : (last_node ? nodes.substr(dash + 1) : nodes.substr(0, dash));
  };
  std::string range = node(profile.blocks[first].name, false);
  range += "..";
  range += node(profile.blocks[last].name, true);
  return range;
}

// PipeDream's optimizer (optimizer_graph_hierarchical.py) as it ran on the bundled profiles:
// pipedream_reference.csv, one row per run, with its printed times in seconds.
TEST(PipeDreamPlanner, ReproducesPipeDreamsOwnOptimizerOutput) {
  const std::string folder = std::string(REPIPE_SOURCE_DIR) + "/tests/partitioner/";
  const CsvTable runs =
      CsvTable::read(folder + "pipedream_reference.csv",
                     {"run", "profile", "machines", "bandwidths", "options", "pipeline_s",
                      "single_stage_s", "data_parallel_speedup", "splits_stable", "stages"},
                     "PipeDream reference runs");
  ASSERT_EQ(runs.rows(), 14u);
  for (std::size_t i = 0; i < runs.rows(); ++i) {
    const CsvRow run = runs.row(i);
    SCOPED_TRACE(run.text("run"));
    const std::string path =
        std::string(REPIPE_SOURCE_DIR) + "/configs/profiles/" + run.text("profile");
    const Profile profile = load_profile(path);
    PipeDreamOptions options;
    options.levels.clear();
    std::istringstream machines(run.text("machines"));
    std::istringstream bandwidths(run.text("bandwidths"));
    for (PipeDreamLevel level;
         machines >> level.machines && bandwidths >> level.bandwidth_bytes_per_s;) {
      options.levels.push_back(level);
    }
    const std::string option = run.text("options");
    options.straight_pipeline = option == "straight";
    if (option == "compression=1") options.activation_compression_ratio = 1;
    if (option.rfind("memory=", 0) == 0) options.memory_size_bytes = std::stod(option.substr(7));
    const CostModel cost(profile, uniform_cluster(64));
    const PipeDreamResult result = plan_pipedream(cost, options, request());

    constexpr double kRelative = 1e-9;  // PipeDream sums in another order
    const double single_ms = 1e3 * run.number("single_stage_s");
    EXPECT_NEAR(result.single_stage_time_ms, single_ms, kRelative * single_ms);
    const double data_parallel_ms = single_ms / run.number("data_parallel_speedup");
    EXPECT_NEAR(result.data_parallel_time_ms, data_parallel_ms, kRelative * data_parallel_ms);
    const double pipeline_ms = 1e3 * run.number("pipeline_s");
    if (run.text("profile") == "pipedream-resnet50-graph.txt") {
      // PipeDream also splits inside residual blocks, where two tensors are live, and its
      // antichains order a block's branches every way. repipe's blocks end where one tensor is
      // live, or after every node of one order (GraphCuts::kEveryNode): each choice set holds
      // the one before, so each can only be as fast or slower (the table in
      // benchmarks/README.md).
      const PipeDreamResult fine =
          plan_pipedream(CostModel(load_profile(path, GraphCuts::kEveryNode), uniform_cluster(64)),
                         options, request());
      EXPECT_GE(result.pipeline_time_ms, fine.pipeline_time_ms * (1 - kRelative));
      EXPECT_GE(fine.pipeline_time_ms, pipeline_ms * (1 - kRelative));
      std::cout << run.text("run") << ": PipeDream " << pipeline_ms << " ms; repipe "
                << fine.pipeline_time_ms << " ms (every node), " << result.pipeline_time_ms
                << " ms (one tensor)\n";
      continue;
    }
    EXPECT_NEAR(result.pipeline_time_ms, pipeline_ms, kRelative * pipeline_ms);
    // Where PipeDream's splits do not depend on how its sets hash (equal-time ties), the stages
    // must be PipeDream's: "x7 node1..node23; x1 node24..node41" (node1 is its input node, which
    // repipe drops).
    if (run.text("splits_stable") != "yes") continue;
    std::string stages;
    for (const PipeDreamStage& stage : result.stages) {
      if (!stages.empty()) stages += "; ";
      stages += "x" + std::to_string(stage.replicas) + " " +
                node_range(profile, stage.first_block, stage.last_block);
    }
    std::string expected = run.text("stages");
    expected.replace(expected.find("node1.."), 7, "node2..");
    EXPECT_EQ(stages, expected);
  }
}

TEST(PipeDreamPlanner, BadOptionsAreUsageErrors) {
  Profile profile;
  profile.blocks = {{"a", 1, 1, 0, 0, 0}};
  const CostModel cost(profile, uniform_cluster(1));
  PipeDreamOptions options;
  options.levels = {{0, 1e9}};
  try {
    plan_pipedream(cost, options, request());
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "pipedream: levels[0].machines: expected at least 1, got 0");
  }
  options.levels = {{2, 0}};
  EXPECT_THROW(plan_pipedream(cost, options, request()), UsageError);
  options.levels.clear();
  EXPECT_THROW(plan_pipedream(cost, options, request()), UsageError);
}

}  // namespace
}  // namespace repipe
