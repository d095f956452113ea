// partitioner/baseline_planners.h: simple straight-pipeline planners to compare the optimal one
// against (benchmarks, `repipe plan --planner ...`).
//
// Each returns a straight plan (stage s on rank s) with plan.prediction filled by
// estimate_straight_plan(), so all planners are judged by the same cost model. None checks
// memory: a baseline plan may not fit (estimate_straight_plan() tells). Bad requests are
// UsageErrors as for plan_straight_pipeline().
#pragma once

#include "partitioner/cost_model.h"
#include "partitioner/plan.h"
#include "partitioner/straight_planner.h"

namespace repipe {

// Equal block counts: stage s holds blocks floor(s*B/S) .. floor((s+1)*B/S) - 1.
Plan plan_uniform_by_blocks(const CostModel& cost, const PlanRequest& request);

// DeepSpeed's default (partition_method='parameters'): the least largest stage by parameter
// bytes, via even_plan_by_bytes().
Plan plan_by_parameter_bytes(const CostModel& cost, const PlanRequest& request);

// Greedy by time: walking the blocks in order, a stage takes blocks while its profile time stays
// within total / S (at least one block, and leaving one for each later stage); the last stage
// takes the rest. Ignores device speeds and links.
Plan plan_greedy_by_time(const CostModel& cost, const PlanRequest& request);

}  // namespace repipe
