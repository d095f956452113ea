// partitioner/pipedream_planner.cc: PipeDream's hierarchical dynamic program with stage
// replication (formulas in the header), the first level sped up by min_max_partition.h's
// dominance argument.
#include "partitioner/pipedream_planner.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "common/error.h"
#include "partitioner/min_max_partition.h"
#include "partitioner/schedule_simulator.h"

namespace repipe {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// How A[j][m] was reached.
struct Choice {
  enum Kind { kNone, kBase, kSplit, kFewer } kind = kNone;
  std::int64_t split = -1;  // kSplit: last block of the stages before
  int replicas = 0;         // kBase, kSplit: replicas of the last stage
};

// One level's table for a fixed first block: time[j][m] = least time of blocks first..j on m
// machines (m = 1..M; index 0 unused).
struct LevelTable {
  std::vector<std::vector<double>> time;
  std::vector<std::vector<Choice>> choice;
};

struct StagePick {
  std::int64_t first = 0;
  std::int64_t last = 0;
  int replicas = 1;
};

class LevelSolver {
 public:
  LevelSolver(const CostModel& cost, const PipeDreamOptions& options, int level,
              std::function<double(std::int64_t, std::int64_t)> segment_ms, bool monotone)
      : cost_(cost),
        options_(options),
        machines_(options.levels[level].machines),
        bandwidth_(options.levels[level].bandwidth_bytes_per_s),
        machines_below_(level == 0 ? 1 : options.levels[level - 1].machines),
        segment_ms_(std::move(segment_ms)),
        monotone_(monotone),
        blocks_(cost.num_blocks()) {}

  int machines() const { return machines_; }

  LevelTable solve(std::int64_t first) const {
    LevelTable table;
    table.time.assign(blocks_, std::vector<double>(machines_ + 1, kInf));
    table.choice.assign(blocks_, std::vector<Choice>(machines_ + 1));
    // Base case: blocks first..j as one stage on m replicas.
    for (std::int64_t j = first; j < blocks_; ++j) {
      for (int m = 1; m <= (options_.straight_pipeline ? 1 : machines_); ++m) {
        if (!fits(first, j, m, m)) continue;
        const double all_reduce = all_reduce_ms(first, j, m) / machines_below_;
        table.time[j][m] = (segment_ms_(first, j) + all_reduce) / m;
        table.choice[j][m] = {Choice::kBase, -1, m};
      }
    }
    for (int m = 2; m <= machines_; ++m) {
      if (options_.use_fewer_machines) {
        for (std::int64_t j = first; j < blocks_; ++j) {
          if (table.time[j][m - 1] < table.time[j][m]) {
            table.time[j][m] = table.time[j][m - 1];
            table.choice[j][m] = {Choice::kFewer, -1, 0};
          }
        }
      }
      for (int r = 1; r <= (options_.straight_pipeline ? 1 : m - 1); ++r) {
        if (monotone_) {
          sweep_fast(table, first, m, r);
        } else {
          sweep_naive(table, first, m, r);
        }
      }
    }
    return table;
  }

  // Stages of blocks first..last on m machines, from a table solved for `first`.
  std::vector<StagePick> backtrack(const LevelTable& table, std::int64_t first, std::int64_t last,
                                   int m) const {
    std::vector<StagePick> picks;
    for (std::int64_t j = last;;) {
      const Choice& choice = table.choice[j][m];
      REPIPE_CHECK(choice.kind != Choice::kNone, "no choice at block " << j << ", " << m);
      if (choice.kind == Choice::kFewer) {
        --m;
      } else if (choice.kind == Choice::kBase) {
        picks.push_back({first, j, choice.replicas});
        break;
      } else {
        picks.push_back({choice.split + 1, j, choice.replicas});
        j = choice.split;
        m -= choice.replicas;
      }
    }
    std::reverse(picks.begin(), picks.end());
    return picks;
  }

  // The stage's time in the recurrence: compute plus all-reduce, over the replicas.
  double stage_ms(std::int64_t first, std::int64_t last, int replicas) const {
    return (segment_ms_(first, last) + all_reduce_ms(first, last, replicas)) / replicas;
  }

 private:
  double all_reduce_ms(std::int64_t first, std::int64_t last, int replicas) const {
    return 1e3 * 4.0 * (replicas - 1) * static_cast<double>(cost_.param_bytes(first, last)) /
           (bandwidth_ * replicas);
  }
  // 2 x the activation crossing after block k, over the replicas and the compression ratio.
  double transfer_ms(std::int64_t k, int replicas) const {
    if (options_.activation_compression_ratio <= 0 || k < 0 || k >= blocks_ - 1) return 0;
    return 1e3 * 2.0 * static_cast<double>(cost_.profile().blocks[k].output_bytes) /
           (bandwidth_ * replicas) / options_.activation_compression_ratio;
  }
  bool fits(std::int64_t first, std::int64_t last, int replicas, int machines_so_far) const {
    if (options_.memory_size_bytes <= 0) return true;
    const double in_flight = std::ceil(static_cast<double>(machines_ - machines_so_far) / replicas);
    const double bytes =
        static_cast<double>(cost_.activation_bytes(first, last) + cost_.param_bytes(first, last));
    return in_flight * bytes <= options_.memory_size_bytes;
  }

  // Last stage on r replicas after stages on m - r machines, every last block j at once.
  void sweep_fast(LevelTable& table, std::int64_t first, int m, int r) const {
    StartCandidates<double> candidates;
    std::int64_t lowest_start = first + 1;
    for (std::int64_t j = first + 1; j < blocks_; ++j) {
      const double before = table.time[j - 1][m - r];
      if (before < kInf) candidates.push(j, std::max(before, transfer_ms(j - 1, r)));
      while (lowest_start <= j && !fits(lowest_start, j, r, m)) ++lowest_start;
      candidates.drop_below(lowest_start);
      const auto [value, start] =
          candidates.best([&](std::int64_t a) { return stage_ms(a, j, r); });
      if (start >= 0) {
        const double total = std::max(value, transfer_ms(j, r));
        if (total < table.time[j][m]) {
          table.time[j][m] = total;
          table.choice[j][m] = {Choice::kSplit, start - 1, r};
        }
      }
    }
  }

  // PipeDream's loops, for stage costs that need not grow with the range (upper levels).
  void sweep_naive(LevelTable& table, std::int64_t first, int m, int r) const {
    for (std::int64_t j = first + 1; j < blocks_; ++j) {
      for (std::int64_t k = first; k < j; ++k) {
        const double before = table.time[k][m - r];
        if (before == kInf || !fits(k + 1, j, r, m)) continue;
        const double total =
            std::max({before, stage_ms(k + 1, j, r), transfer_ms(k, r), transfer_ms(j, r)});
        if (total < table.time[j][m]) {
          table.time[j][m] = total;
          table.choice[j][m] = {Choice::kSplit, k, r};
        }
      }
    }
  }

  const CostModel& cost_;
  const PipeDreamOptions& options_;
  int machines_;
  double bandwidth_;
  int machines_below_;
  std::function<double(std::int64_t, std::int64_t)> segment_ms_;
  bool monotone_;
  std::int64_t blocks_;
};

void check_options(const PipeDreamOptions& options) {
  if (options.levels.empty()) throw UsageError("pipedream: levels: expected at least one level");
  for (std::size_t l = 0; l < options.levels.size(); ++l) {
    const std::string where = "pipedream: levels[" + std::to_string(l) + "]";
    if (options.levels[l].machines < 1) {
      throw UsageError(where + ".machines: expected at least 1, got " +
                       std::to_string(options.levels[l].machines));
    }
    if (!(options.levels[l].bandwidth_bytes_per_s > 0)) {
      throw UsageError(where + ".bandwidth: expected bytes/s > 0, got " +
                       std::to_string(options.levels[l].bandwidth_bytes_per_s));
    }
  }
  if (!(options.memory_size_bytes >= 0)) {
    throw UsageError("pipedream: memory_size: expected bytes >= 0 (0: unchecked)");
  }
  if (!(options.activation_compression_ratio >= 0)) {
    throw UsageError(
        "pipedream: activation_compression_ratio: expected >= 0 (0: transfers "
        "not counted)");
  }
}

}  // namespace

PipeDreamResult plan_pipedream(const CostModel& cost, const PipeDreamOptions& options,
                               const PlanRequest& request) {
  check_options(options);
  if (request.model.empty()) throw UsageError("model: expected a model name, got none");
  if (request.microbatch_size < 1) {
    throw UsageError("microbatch_size: expected at least 1, got " +
                     std::to_string(request.microbatch_size));
  }
  const std::int64_t blocks = cost.num_blocks();
  const auto levels = static_cast<int>(options.levels.size());

  // Level by level: solvers[l] and, below the top, tables[l][first] for every first block.
  std::vector<LevelSolver> solvers;
  std::vector<std::vector<LevelTable>> tables(levels);
  std::function<double(std::int64_t, std::int64_t)> segment_ms = [&cost](std::int64_t first,
                                                                         std::int64_t last) {
    return cost.stage_compute_ms(first, last, 0);
  };
  for (int l = 0; l < levels; ++l) {
    solvers.emplace_back(cost, options, l, segment_ms, /*monotone=*/l == 0);
    if (l + 1 == levels) break;
    for (std::int64_t first = 0; first < blocks; ++first) {
      tables[l].push_back(solvers[l].solve(first));
    }
    const int machines = options.levels[l].machines;
    const std::vector<LevelTable>* level_tables = &tables[l];
    segment_ms = [level_tables, machines](std::int64_t first, std::int64_t last) {
      return (*level_tables)[first].time[last][machines];
    };
  }
  tables[levels - 1].push_back(solvers[levels - 1].solve(0));

  PipeDreamResult result;
  const LevelSolver& top = solvers.back();
  result.pipeline_time_ms = tables[levels - 1][0].time[blocks - 1][top.machines()];
  if (result.pipeline_time_ms == kInf) {
    throw NoPlanFits(
        "pipedream: no plan of " + std::to_string(blocks) + " blocks fits memory_size " +
            std::to_string(static_cast<std::int64_t>(options.memory_size_bytes)) + " bytes",
        0);
  }

  // Expand the top level's stages through the levels below; replicas multiply.
  std::function<void(int, std::int64_t, std::int64_t, int, int)> expand =
      [&](int l, std::int64_t first, std::int64_t last, int machines, int copies) {
        const LevelTable& table = l + 1 == levels ? tables[l][0] : tables[l][first];
        for (const StagePick& pick : solvers[l].backtrack(table, first, last, machines)) {
          if (l == 0) {
            PipeDreamStage stage;
            stage.first_block = pick.first;
            stage.last_block = pick.last;
            stage.replicas = pick.replicas * copies;
            stage.compute_ms = cost.stage_compute_ms(pick.first, pick.last, 0) / stage.replicas;
            stage.time_ms = solvers[0].stage_ms(pick.first, pick.last, pick.replicas);
            result.stages.push_back(stage);
          } else {
            expand(l - 1, pick.first, pick.last, options.levels[l - 1].machines,
                   copies * pick.replicas);
          }
        }
      };
  expand(levels - 1, 0, blocks - 1, top.machines(), 1);

  // PipeDream's reference points: one GPU, and every GPU data parallel.
  result.single_stage_time_ms = cost.stage_compute_ms(0, blocks - 1, 0);
  double data_parallel = result.single_stage_time_ms;
  int machines_below = 1;
  int total_machines = 1;
  for (const PipeDreamLevel& level : options.levels) {
    const double all_reduce = 1e3 * 4.0 * (level.machines - 1) *
                              static_cast<double>(cost.param_bytes(0, blocks - 1)) /
                              (level.bandwidth_bytes_per_s * level.machines) / machines_below;
    data_parallel = (data_parallel + all_reduce) / level.machines;
    machines_below = level.machines;
    total_machines *= level.machines;
  }
  result.data_parallel_time_ms = data_parallel;

  Plan& plan = result.plan;
  plan.model = request.model;
  plan.schedule = schedule_kind_name(cost.training_setup().schedule);
  plan.microbatches = cost.training_setup().microbatches;
  plan.microbatch_size = request.microbatch_size;
  int next_rank = 0;
  bool replicated = false;
  StageTimes times;
  for (const PipeDreamStage& stage : result.stages) {
    StagePlan stage_plan{stage.first_block, stage.last_block, {}};
    for (int r = 0; r < stage.replicas; ++r) stage_plan.ranks.push_back(next_rank++);
    replicated = replicated || stage.replicas > 1;
    plan.stages.push_back(stage_plan);
    const double forward =
        stage.time_ms * cost.forward_fraction(stage.first_block, stage.last_block);
    times.forward_ms.push_back(forward);
    times.backward_ms.push_back(stage.time_ms - forward);
  }
  result.machines_unused = total_machines - next_rank;
  const auto stages = static_cast<int>(result.stages.size());
  const SimulationResult simulated =
      simulate(make_schedule(cost.training_setup().schedule, stages,
                             cost.training_setup().microbatches, StepEndOptions{false, replicated}),
               times);
  plan.prediction =
      PlanPrediction{simulated.step_time_ms, result.pipeline_time_ms, simulated.bubble_fraction};
  validate_plan(plan, request.model, blocks, next_rank, "pipedream plan");
  return result;
}

}  // namespace repipe
