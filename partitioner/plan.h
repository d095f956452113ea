// partitioner/plan.h: the plan: which blocks each stage owns and which ranks run it, as a TOML
// file.
//
// A plan is written by `repipe plan` (or by hand) and read by `repipe train`. The file format is
// versioned (Plan::kVersion) and documented by the comments plan_to_toml() writes; an example
// lives in configs/plans/. Loading checks what the file alone can tell (types, ranges, stages in
// order); validate_plan() adds what needs the model and the world size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace repipe {

struct StagePlan {
  std::int64_t first_block = 0;  // 0-based, inclusive, into the model's block list
  std::int64_t last_block = 0;   // inclusive
  std::vector<int> ranks;        // more than one: replicas whose gradients are all-reduced

  std::int64_t num_blocks() const { return last_block - first_block + 1; }
  bool operator==(const StagePlan&) const = default;
};

// What the planner predicted for this plan; informational, never used to run it.
struct PlanPrediction {
  double step_time_ms = 0;
  double bottleneck_ms = 0;    // time per micro-batch of the slowest stage
  double bubble_fraction = 0;  // share of the step a stage idles, in [0, 1]

  bool operator==(const PlanPrediction&) const = default;
};

struct Plan {
  static constexpr int kVersion = 1;

  int version = kVersion;
  std::string model;  // a model zoo name; must match the model being trained
  std::string schedule = "1f1b-flush";
  std::int64_t microbatches = 1;
  std::int64_t microbatch_size = 1;
  std::vector<StagePlan> stages;
  std::optional<PlanPrediction> prediction;

  int world_size() const;                        // number of distinct ranks
  int stage_of_rank(int rank) const;             // -1 if the rank is in no stage
  int stage_of_block(std::int64_t block) const;  // -1 if no stage holds the block
  std::int64_t num_blocks() const;               // last_block of the last stage + 1
  std::int64_t global_batch() const { return microbatches * microbatch_size; }
  bool operator==(const Plan&) const = default;
};

// Parses a plan file and checks its structure: types, positive counts, stages contiguous from
// block 0, each rank in one stage. Every problem is a UsageError
// "<path>:<line>: stages[1].last_block: expected ...". Unknown keys are rejected; a version other
// than Plan::kVersion is rejected naming the supported one.
Plan load_plan(const std::string& path);

// The plan as TOML with comments explaining each field; doubles read back exactly.
std::string plan_to_toml(const Plan& plan);

// Writes plan_to_toml(plan) atomically (temporary file, then rename).
void save_plan(const Plan& plan, const std::string& path);

// Checks the plan against a model and a world: the structural checks of load_plan, plus the stages
// cover blocks 0..num_blocks-1, every rank in [0, world_size) appears exactly once and
// plan.model == model_name. A failure is a UsageError "<where>: <field>: ..." (where: the plan's
// path or another description of its origin).
void validate_plan(const Plan& plan, const std::string& model_name, std::int64_t num_blocks,
                   int world_size, const std::string& where);

// The default plan without a planner: stage s on rank s, blocks split contiguously so that the
// largest stage holds as few parameter bytes as possible (exact min-max linear partition); among
// the optimal splits, the one with the most even block counts. Every stage gets at least one
// block; more stages than blocks, or a negative byte count, is a UsageError.
Plan even_plan_by_bytes(const std::string& model,
                        const std::vector<std::int64_t>& block_param_bytes, int stages,
                        const std::string& schedule, std::int64_t microbatches,
                        std::int64_t microbatch_size);

// The largest sum of block_param_bytes over the plan's stages (what even_plan_by_bytes minimises).
std::int64_t max_stage_bytes(const Plan& plan, const std::vector<std::int64_t>& block_param_bytes);

}  // namespace repipe
