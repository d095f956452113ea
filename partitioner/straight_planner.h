// partitioner/straight_planner.h: the exact optimal straight pipeline (stage s on device s).
//
// Splits the model's B blocks contiguously into S stages, stage s on device s, minimising the
// bottleneck: the largest per-micro-batch occupancy of any resource, that is of any device
// (its stage's compute, CostModel::stage_compute_ms) or of any link between consecutive stages
// (activation forward + gradient backward, CostModel::boundary_ms). Sends are asynchronous,
// as in the simulator (schedule_simulator.h: a SEND never blocks its stage), so a stage's compute
// and its transfers overlap and the steady state runs at the slowest of them (PipeDream's model).
// Every stage must fit its device's memory (CostModel::stage_memory_bytes); when no split does,
// NoPlanFits says how much memory per device would.
//
// Among the splits within 1e-9 (relative) of the optimal bottleneck, the planner prefers the one
// with the smaller simulated step time: it compares the min-max solution with the split of least
// pipeline latency (sum of stage compute and boundary times) under the same bound, both by
// simulate(), and keeps the faster.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "partitioner/cost_model.h"
#include "partitioner/plan.h"
#include "partitioner/schedule_simulator.h"

namespace repipe {

// No split of the blocks fits the devices' memory. Not a UsageError: the input is well formed,
// the model just does not fit (the CLI exits 1).
class NoPlanFits : public std::runtime_error {
 public:
  NoPlanFits(const std::string& message, std::int64_t min_memory_bytes)
      : std::runtime_error(message), min_memory_bytes_(min_memory_bytes) {}
  // The smallest memory per device with which some split fits: over all splits, the least
  // largest stage memory.
  std::int64_t min_memory_bytes() const { return min_memory_bytes_; }

 private:
  std::int64_t min_memory_bytes_;
};

// What to plan beyond the cost model (whose TrainingSetup gives schedule and micro-batches).
struct PlanRequest {
  std::string model;  // copied into the plan
  int stages = 1;
  std::int64_t microbatch_size = 1;  // copied into the plan
  bool simulate = true;  // simulate to break ties and predict; else an analytic estimate
};

struct StageEstimate {
  std::int64_t first_block = 0;
  std::int64_t last_block = 0;
  int device = 0;
  double compute_ms = 0;          // per micro-batch
  double boundary_ms = 0;         // link to the next stage per micro-batch (0 for the last)
  std::int64_t memory_bytes = 0;  // CostModel::stage_memory_bytes
  std::int64_t memory_limit = 0;  // the device's, 0: unlimited
};

struct PlanEstimate {
  std::vector<StageEstimate> stages;
  double bottleneck_ms = 0;    // max over stages' compute_ms and boundary_ms
  double step_time_ms = 0;     // simulated, or (m - 1) x bottleneck + pipeline latency
  double bubble_fraction = 0;  // idle share of the stages over a step
  bool fits_memory = true;
};

// Evaluates a plan whose stages each run on one rank (the rank is the device). The simulation
// uses the cost model's schedule and micro-batches, each stage's compute split into forward and
// backward by the profile's ratio, and every message's own transfer time (latency + bytes /
// bandwidth of its link). Not a straight plan: UsageError.
PlanEstimate estimate_straight_plan(const CostModel& cost, const Plan& plan, bool simulate = true);

// The simulator's input for an estimated plan: each stage's forward and backward ms, the
// transfer time of every message it sends, and its activation and parameter bytes.
StageTimes stage_times_for_simulation(const CostModel& cost, const PlanEstimate& estimate);

// The optimal straight plan (see the file comment), with plan.prediction filled from
// estimate_straight_plan(). Throws UsageError for request.stages < 1, more stages than blocks or
// devices, or microbatch_size < 1; NoPlanFits when nothing fits memory.
// Cost O(S x B x log B) stage-cost calls for the bottleneck, O(S x B) for the tie-break DP.
Plan plan_straight_pipeline(const CostModel& cost, const PlanRequest& request);

// The least memory per device with which `stages` stages of the cost model's blocks fit: over
// all contiguous splits, the smallest largest stage memory.
std::int64_t min_memory_for_straight_pipeline(const CostModel& cost, int stages);

// Throws UsageError for an empty model name, request.stages < 1, more stages than blocks or
// devices, or microbatch_size < 1.
void check_plan_request(const CostModel& cost, const PlanRequest& request);

// A plan with stage s = blocks [first_blocks[s], first_blocks[s+1]) on rank s.
Plan straight_plan_from_starts(const std::vector<std::int64_t>& first_blocks,
                               std::int64_t num_blocks, const CostModel& cost,
                               const PlanRequest& request);

}  // namespace repipe
