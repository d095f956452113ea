// partitioner/baseline_planners.cc: uniform, parameter-balanced and greedy straight plans.
#include "partitioner/baseline_planners.h"

#include <vector>

#include "common/error.h"

namespace repipe {
namespace {

Plan predicted(Plan plan, const CostModel& cost, const PlanRequest& request) {
  const PlanEstimate estimate = estimate_straight_plan(cost, plan, request.simulate);
  plan.prediction =
      PlanPrediction{estimate.step_time_ms, estimate.bottleneck_ms, estimate.bubble_fraction};
  validate_plan(plan, request.model, cost.num_blocks(), request.stages, "baseline plan");
  return plan;
}

}  // namespace

Plan plan_uniform_by_blocks(const CostModel& cost, const PlanRequest& request) {
  check_plan_request(cost, request);
  const std::int64_t blocks = cost.num_blocks();
  std::vector<std::int64_t> starts;
  for (std::int64_t s = 0; s < request.stages; ++s) starts.push_back(s * blocks / request.stages);
  return predicted(straight_plan_from_starts(starts, blocks, cost, request), cost, request);
}

Plan plan_by_parameter_bytes(const CostModel& cost, const PlanRequest& request) {
  check_plan_request(cost, request);
  std::vector<std::int64_t> bytes;
  for (const BlockProfile& block : cost.profile().blocks) bytes.push_back(block.param_bytes);
  Plan plan = even_plan_by_bytes(request.model, bytes, request.stages,
                                 schedule_kind_name(cost.training_setup().schedule),
                                 cost.training_setup().microbatches, request.microbatch_size);
  return predicted(std::move(plan), cost, request);
}

Plan plan_greedy_by_time(const CostModel& cost, const PlanRequest& request) {
  check_plan_request(cost, request);
  const std::int64_t blocks = cost.num_blocks();
  const int stages = request.stages;
  std::vector<double> block_ms;
  double total = 0;
  for (const BlockProfile& block : cost.profile().blocks) {
    block_ms.push_back(block.forward_ms + block.backward_ms);
    total += block_ms.back();
  }
  const double target = total / stages;
  std::vector<std::int64_t> starts;
  std::int64_t next = 0;
  for (int s = 0; s < stages; ++s) {
    starts.push_back(next);
    if (s == stages - 1) break;
    const std::int64_t last_allowed = blocks - (stages - s);  // leave one block per later stage
    double stage_ms = block_ms[next++];
    while (next <= last_allowed && stage_ms + block_ms[next] <= target)
      stage_ms += block_ms[next++];
  }
  return predicted(straight_plan_from_starts(starts, blocks, cost, request), cost, request);
}

}  // namespace repipe
