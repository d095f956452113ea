// partitioner/pipedream_planner.h: PipeDream's partitioning optimizer (SOSP'19,
// optimizer_graph_hierarchical.py) over repipe's block list: contiguous stages, each replicated
// over r GPUs (data parallel within the stage), minimising the slowest stage.
//
// PipeDream's formulas, with times in ms and bandwidths in bytes/s:
//  - a stage of blocks i..j on r replicas takes
//      (T(i..j) + 4 (r - 1) W(i..j) / (BW r)) / r
//    with T the compute time (CostModel::stage_compute_ms on the stage's first device) and W its
//    parameter bytes; the middle term is a ring all-reduce of the gradients;
//  - the pipeline time is the slowest stage; activation transfers between stages
//    (2 x output bytes / (BW r) / ratio, in and out) count only with an activation compression
//    ratio, as in PipeDream (whose default leaves them out);
//  - optional memory check per stage: ceil((N - m) / r) x (activations + W) <= memory_size, m
//    the machines allotted up to and including the stage (with use_fewer_machines, idle ones
//    too), N all machines of the level;
//  - hierarchical: levels innermost first (e.g. 8 GPUs per server at NVLink bandwidth, then 4
//    servers on the network). A level's best time for each block range on all of its machines
//    becomes the compute time of one "machine" of the next level; at the base case of levels
//    above the first, the all-reduce time is divided by the machines of the level below (PipeDream
//    does so there but not in its recurrence, and so does this).
// Among equal-time plans this may choose another one than PipeDream.
// Cost: one level, N machines, B blocks: O(N^2 x B x log B) stage evaluations (PipeDream's loops:
// O(N^2 x B^2)); levels above the first use PipeDream's loops.
#pragma once

#include <cstdint>
#include <vector>

#include "partitioner/cost_model.h"
#include "partitioner/plan.h"
#include "partitioner/straight_planner.h"

namespace repipe {

struct PipeDreamLevel {
  int machines = 1;                    // of this level inside one machine of the level above
  double bandwidth_bytes_per_s = 1e9;  // between them (PipeDream's default: 1 GB/s)
};

struct PipeDreamOptions {
  std::vector<PipeDreamLevel> levels{PipeDreamLevel{}};  // innermost first; GPUs = product
  double memory_size_bytes = 0;             // > 0: --use_memory_constraint --memory_size
  bool straight_pipeline = false;           // one replica per stage
  bool use_fewer_machines = false;          // leave machines idle when that is faster
  double activation_compression_ratio = 0;  // > 0: count activation transfers, divided by it
};

struct PipeDreamStage {
  std::int64_t first_block = 0;
  std::int64_t last_block = 0;
  int replicas = 1;       // GPUs running the stage
  double compute_ms = 0;  // T / replicas: compute per replica
  // One level: the stage's time in the objective. Several levels: its time within one copy of
  // the first level (the levels above add their all-reduce and divide by their replicas).
  double time_ms = 0;
};

struct PipeDreamResult {
  Plan plan;  // stages with consecutive ranks; prediction filled
  std::vector<PipeDreamStage> stages;
  double pipeline_time_ms = 0;       // "Time per stage in pipeline": the slowest stage
  double single_stage_time_ms = 0;   // "Time taken by single-stage pipeline": all compute
  double data_parallel_time_ms = 0;  // all GPUs data parallel, PipeDream's formula
  int machines_unused = 0;           // with use_fewer_machines
};

// Plans with PipeDream's optimizer. request.stages is ignored (the optimizer picks the number of
// stages); request.model and microbatch_size are copied into the plan, the schedule and
// micro-batches come from the cost model. The prediction's step time simulates the plan's stage
// times (PipeDream's per-stage time, split into forward and backward by the profile's ratio).
// Throws UsageError on a level with < 1 machine or a bandwidth <= 0, NoPlanFits if no plan
// meets memory_size (min_memory_bytes: 0, not computed for this model).
PipeDreamResult plan_pipedream(const CostModel& cost, const PipeDreamOptions& options,
                               const PlanRequest& request);

}  // namespace repipe
