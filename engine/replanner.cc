#include "engine/replanner.h"

#include <algorithm>

#include "common/error.h"
#include "partitioner/straight_planner.h"

namespace repipe {
namespace {

// The plan with stage s on device s: the cost model's devices are the stages' ranks in order.
Plan on_stage_devices(Plan plan) {
  for (std::size_t s = 0; s < plan.stages.size(); ++s) plan.stages[s].ranks = {static_cast<int>(s)};
  return plan;
}

bool same_blocks(const Plan& a, const Plan& b) {
  if (a.stages.size() != b.stages.size()) return false;
  for (std::size_t s = 0; s < a.stages.size(); ++s) {
    if (a.stages[s].first_block != b.stages[s].first_block ||
        a.stages[s].last_block != b.stages[s].last_block) {
      return false;
    }
  }
  return true;
}

}  // namespace

Replanner::Replanner(Profile reference, std::vector<double> stage_overhead_ms,
                     std::vector<std::int64_t> state_bytes, Plan initial, TrainingSetup setup,
                     ReplanOptions options)
    : reference_(std::move(reference)),
      stage_overhead_ms_(std::move(stage_overhead_ms)),
      state_bytes_(std::move(state_bytes)),
      initial_(std::move(initial)),
      setup_(setup),
      options_(options) {
  REPIPE_CHECK(state_bytes_.size() == reference_.blocks.size(), "replanner: one size per block");
  REPIPE_CHECK(stage_overhead_ms_.size() == initial_.stages.size(), "replanner: one per stage");
  compute_prefix_.push_back(0);
  for (const BlockProfile& block : reference_.blocks) {
    compute_prefix_.push_back(compute_prefix_.back() + block.forward_ms + block.backward_ms);
  }
  for (const StagePlan& stage : initial_.stages) {
    if (stage.ranks.size() != 1) throw UsageError("replanning needs a straight pipeline");
  }
}

CostModel Replanner::cost_model(const Plan& plan, const std::vector<double>& slowdown,
                                const Plan& running) const {
  Cluster cluster = uniform_cluster(static_cast<int>(plan.stages.size()), 0, options_.link);
  cluster.speed.clear();
  std::vector<int> ranks;
  for (const StagePlan& stage : plan.stages) {
    ranks.push_back(stage.ranks.front());
    cluster.speed.push_back(1 / slowdown[static_cast<std::size_t>(stage.ranks.front())]);
  }
  // What each rank runs now: the stage its measured slowdown belongs to.
  std::vector<std::pair<std::int64_t, std::int64_t>> measured_on(slowdown.size(), {-1, -1});
  for (const StagePlan& stage : running.stages) {
    measured_on[static_cast<std::size_t>(stage.ranks.front())] = {stage.first_block,
                                                                  stage.last_block};
  }
  // Device s is stage s: its blocks plus its overhead, at its rank's speed.
  StageCostFn stage_cost = [this, speed = cluster.speed, ranks, measured_on, &slowdown](
                               std::int64_t first, std::int64_t last, int device) {
    const auto d = static_cast<std::size_t>(device);
    double ms =
        (compute_prefix_[last + 1] - compute_prefix_[first] + stage_overhead_ms_[d]) / speed[d];
    const int rank = ranks[d];
    const auto [now_first, now_last] = measured_on[static_cast<std::size_t>(rank)];
    // A rank believed normal has no interference to tell stages apart by.
    const bool slowed = slowdown[static_cast<std::size_t>(rank)] != 1.0;
    if (predicted_ && slowed && now_first >= 0 && (first != now_first || last != now_last)) {
      ms *= predicted_(rank, first, last) / predicted_(rank, now_first, now_last);
    }
    return ms;
  };
  return CostModel(reference_, cluster, setup_, stage_cost);
}

double Replanner::step_ms(const Plan& plan, const std::vector<double>& slowdown,
                          const Plan& running) const {
  return estimate_straight_plan(cost_model(plan, slowdown, running), on_stage_devices(plan))
      .step_time_ms;
}

Replan Replanner::consider(const std::vector<double>& slowdown, const Plan& current,
                           std::int64_t steps_left) const {
  Replan r;
  r.steps_left = steps_left;
  const bool all_normal =
      std::all_of(slowdown.begin(), slowdown.end(), [](double s) { return s == 1.0; });
  if (all_normal) {
    r.plan = initial_;
  } else {
    PlanRequest request{.model = current.model,
                        .stages = static_cast<int>(current.stages.size()),
                        .microbatch_size = current.microbatch_size,
                        .simulate = true};
    r.plan = plan_straight_pipeline(cost_model(current, slowdown, current), request);
    r.plan.schedule = current.schedule;
    r.plan.microbatches = current.microbatches;
    for (std::size_t s = 0; s < current.stages.size(); ++s) {
      r.plan.stages[s].ranks = current.stages[s].ranks;
    }
  }
  r.step_ms_now = step_ms(current, slowdown, current);
  r.step_ms_new = step_ms(r.plan, slowdown, current);
  if (same_blocks(r.plan, current)) {
    r.plan = current;
    r.step_ms_new = r.step_ms_now;
    r.why_not = "the current plan is already the best";
    return r;
  }
  for (std::size_t b = 0; b < state_bytes_.size(); ++b) {
    const auto block = static_cast<std::int64_t>(b);
    if (current.stage_of_block(block) != r.plan.stage_of_block(block)) {
      r.migration_bytes += state_bytes_[b];
    }
  }
  r.migration_ms = options_.migration_fixed_ms +
                   1e3 * static_cast<double>(r.migration_bytes) / options_.migration_bytes_per_s;
  const double saved_ms = r.step_ms_now - r.step_ms_new;
  r.gain_ms = saved_ms * static_cast<double>(steps_left);
  // Back to the initial plan needs no margin: it is the plan chosen for this cluster, not a
  // prediction that might be wrong.
  const double min_saved_ms = all_normal ? 0.0 : options_.min_gain * r.step_ms_now;
  if (saved_ms <= min_saved_ms) {
    r.why_not = all_normal
                    ? std::string("the initial plan would not be faster")
                    : "a step would gain under " +
                          std::to_string(static_cast<int>(options_.min_gain * 100 + 0.5)) + "%";
  } else if (r.gain_ms <= r.migration_ms) {
    r.why_not = "the remaining steps would not win back the migration";
  } else {
    r.repartition = true;
  }
  return r;
}

void Replanner::record_migration(std::int64_t bytes, double ms) {
  if (bytes <= 0) return;
  options_.migration_bytes_per_s =
      static_cast<double>(bytes) / (std::max(ms - options_.migration_fixed_ms, 0.1) / 1e3);
}

}  // namespace repipe
