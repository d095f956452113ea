// partitioner/straight_planner.cc: exact min-max contiguous partition with per-device speeds,
// link costs and memory limits; tie-break by simulated step time.
#include "partitioner/straight_planner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "partitioner/min_max_partition.h"
#include "partitioner/schedule_simulator.h"

namespace repipe {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTieTolerance = 1e-9;  // relative: bottlenecks this close count as equal

bool fits(const CostModel& cost, int stage, int stages, std::int64_t first, std::int64_t last) {
  const std::int64_t limit = cost.cluster().memory_of(stage);
  return limit == 0 || cost.stage_memory_bytes(first, last, stage, stages) <= limit;
}

// Stage starts from a table's backtracking: starts[s] = first block of stage s.
std::vector<std::int64_t> starts_from(const std::vector<std::vector<std::int64_t>>& start,
                                      int stages, std::int64_t blocks) {
  std::vector<std::int64_t> starts(static_cast<std::size_t>(stages));
  std::int64_t last = blocks - 1;
  for (int s = stages - 1; s >= 0; --s) {
    starts[s] = start[s][last];
    last = starts[s] - 1;
  }
  return starts;
}

// Among splits whose stages and boundaries all stay within `bound` and fit memory, the one of
// least pipeline latency: sum of stage compute plus boundary times. The compute term uses the
// profile sums / speed (separable, so a sliding-window minimum makes each stage O(B)); the bound
// uses the real stage cost. Returns empty if no split qualifies.
std::vector<std::int64_t> least_latency_starts(const CostModel& cost, int stages, double bound) {
  const std::int64_t blocks = cost.num_blocks();
  auto prefix_ms = [&](std::int64_t end, int device) {  // blocks 0..end-1, on device
    return end == 0 ? 0.0 : cost.default_stage_cost(0, end - 1, device);
  };
  std::vector<std::vector<double>> latency(stages, std::vector<double>(blocks, kInf));
  std::vector<std::vector<std::int64_t>> start(stages, std::vector<std::int64_t>(blocks, -1));
  for (int s = 0; s < stages; ++s) {
    const std::int64_t last_end = blocks - stages + s;    // leave a block to each later stage
    std::vector<std::pair<std::int64_t, double>> window;  // (start a, key), keys ascending
    std::size_t head = 0;
    std::int64_t lowest_start = s;  // smallest a with stage a..b within bound and memory
    for (std::int64_t b = s; b <= last_end; ++b) {
      if (s == 0) {
        if (cost.stage_compute_ms(0, b, 0) <= bound && fits(cost, 0, stages, 0, b)) {
          latency[0][b] = prefix_ms(b + 1, 0);
          start[0][b] = 0;
        }
        continue;
      }
      const double before = latency[s - 1][b - 1];
      const double boundary = cost.boundary_ms(b - 1, s - 1, s);
      if (before < kInf && boundary <= bound) {
        const double key = before + boundary - prefix_ms(b, s);
        while (window.size() > head && window.back().second >= key) window.pop_back();
        window.emplace_back(b, key);
      }
      while (lowest_start <= b && (cost.stage_compute_ms(lowest_start, b, s) > bound ||
                                   !fits(cost, s, stages, lowest_start, b))) {
        ++lowest_start;
      }
      while (head < window.size() && window[head].first < lowest_start) ++head;
      if (head == window.size()) continue;
      latency[s][b] = window[head].second + prefix_ms(b + 1, s);
      start[s][b] = window[head].first;
    }
  }
  if (latency[stages - 1][blocks - 1] == kInf) return {};
  return starts_from(start, stages, blocks);
}

std::string gib(std::int64_t bytes) {
  std::ostringstream out;
  out.precision(3);
  out << std::fixed << static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0) << " GiB";
  return out.str();
}

[[noreturn]] void throw_no_plan_fits(const CostModel& cost, int stages) {
  const std::int64_t needed = min_memory_for_straight_pipeline(cost, stages);
  std::int64_t smallest = 0;
  for (int d = 0; d < stages; ++d) {
    const std::int64_t m = cost.cluster().memory_of(d);
    if (m > 0 && (smallest == 0 || m < smallest)) smallest = m;
  }
  throw NoPlanFits("no split of " + std::to_string(cost.num_blocks()) + " blocks into " +
                       std::to_string(stages) + " stages fits the devices' memory (smallest: " +
                       std::to_string(smallest) + " bytes = " + gib(smallest) +
                       "); the smallest memory per device that fits is " + std::to_string(needed) +
                       " bytes = " + gib(needed),
                   needed);
}

}  // namespace

void check_plan_request(const CostModel& cost, const PlanRequest& request) {
  const std::int64_t blocks = cost.num_blocks();
  if (request.model.empty()) throw UsageError("model: expected a model name, got none");
  if (request.stages < 1) {
    throw UsageError("stages: expected at least 1, got " + std::to_string(request.stages));
  }
  if (request.stages > blocks) {
    throw UsageError("stages: " + std::to_string(request.stages) +
                     " stages, but the profile has only " + std::to_string(blocks) +
                     " blocks and every stage needs at least one");
  }
  if (request.stages > cost.cluster().num_devices) {
    throw UsageError("stages: " + std::to_string(request.stages) +
                     " stages, but the cluster has only " +
                     std::to_string(cost.cluster().num_devices) + " devices");
  }
  if (request.microbatch_size < 1) {
    throw UsageError("microbatch_size: expected at least 1, got " +
                     std::to_string(request.microbatch_size));
  }
}

Plan straight_plan_from_starts(const std::vector<std::int64_t>& first_blocks,
                               std::int64_t num_blocks, const CostModel& cost,
                               const PlanRequest& request) {
  Plan plan;
  plan.model = request.model;
  plan.schedule = schedule_kind_name(cost.training_setup().schedule);
  plan.microbatches = cost.training_setup().microbatches;
  plan.microbatch_size = request.microbatch_size;
  const auto stages = static_cast<int>(first_blocks.size());
  for (int s = 0; s < stages; ++s) {
    const std::int64_t end = s + 1 < stages ? first_blocks[s + 1] : num_blocks;
    plan.stages.push_back(StagePlan{first_blocks[s], end - 1, {s}});
  }
  return plan;
}

StageTimes stage_times_for_simulation(const CostModel& cost, const PlanEstimate& estimate) {
  StageTimes times;
  const std::vector<StageEstimate>& stages = estimate.stages;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const StageEstimate& e = stages[s];
    const double forward = e.compute_ms * cost.forward_fraction(e.first_block, e.last_block);
    times.forward_ms.push_back(forward);
    times.backward_ms.push_back(e.compute_ms - forward);
    // Stage s sends its activation to s + 1 and its input gradient (the bytes of stage
    // s - 1's output) to s - 1.
    times.send_forward_ms.push_back(
        s + 1 < stages.size() ? cost.message_ms(e.last_block, e.device, stages[s + 1].device) : 0);
    times.send_backward_ms.push_back(
        s > 0 ? cost.message_ms(stages[s - 1].last_block, e.device, stages[s - 1].device) : 0);
    times.activation_bytes.push_back(
        static_cast<double>(cost.activation_bytes(e.first_block, e.last_block)));
    times.param_bytes.push_back(static_cast<double>(cost.param_bytes(e.first_block, e.last_block)));
  }
  times.optimizer_states = cost.training_setup().optimizer_state_copies;
  return times;
}

PlanEstimate estimate_straight_plan(const CostModel& cost, const Plan& plan, bool simulate) {
  PlanEstimate estimate;
  const auto stages = static_cast<int>(plan.stages.size());
  REPIPE_CHECK(stages >= 1, "a plan without stages");
  double latency_ms = 0;
  double compute_total_ms = 0;
  for (int s = 0; s < stages; ++s) {
    const StagePlan& stage = plan.stages[s];
    if (stage.ranks.size() != 1) {
      throw UsageError("stages[" + std::to_string(s) +
                       "].ranks: a straight pipeline runs each stage on one rank, got " +
                       std::to_string(stage.ranks.size()));
    }
    StageEstimate e;
    e.first_block = stage.first_block;
    e.last_block = stage.last_block;
    e.device = stage.ranks.front();
    if (e.device < 0 || e.device >= cost.cluster().num_devices) {
      throw UsageError("stages[" + std::to_string(s) + "].ranks: rank " + std::to_string(e.device) +
                       " is not a device of the cluster (0.." +
                       std::to_string(cost.cluster().num_devices - 1) + ")");
    }
    e.compute_ms = cost.stage_compute_ms(e.first_block, e.last_block, e.device);
    if (s + 1 < stages) {
      const int next = plan.stages[s + 1].ranks.front();
      e.boundary_ms = cost.boundary_ms(e.last_block, e.device, next);
    }
    e.memory_bytes = cost.stage_memory_bytes(e.first_block, e.last_block, s, stages);
    e.memory_limit = cost.cluster().memory_of(e.device);
    if (e.memory_limit > 0 && e.memory_bytes > e.memory_limit) estimate.fits_memory = false;
    estimate.bottleneck_ms = std::max({estimate.bottleneck_ms, e.compute_ms, e.boundary_ms});
    latency_ms += e.compute_ms + e.boundary_ms;
    compute_total_ms += e.compute_ms;
    estimate.stages.push_back(e);
  }
  const int microbatches = cost.training_setup().microbatches;
  if (simulate) {
    StageTimes times = stage_times_for_simulation(cost, estimate);
    const SimulationResult result = repipe::simulate(
        make_schedule(cost.training_setup().schedule, stages, microbatches), times);
    estimate.step_time_ms = result.step_time_ms;
    estimate.bubble_fraction = result.bubble_fraction;
  } else {
    estimate.step_time_ms = (microbatches - 1) * estimate.bottleneck_ms + latency_ms;
    estimate.bubble_fraction = estimate.step_time_ms > 0 ? 1 - microbatches * compute_total_ms /
                                                                   (stages * estimate.step_time_ms)
                                                         : 0.0;
  }
  return estimate;
}

std::int64_t min_memory_for_straight_pipeline(const CostModel& cost, int stages) {
  const std::int64_t blocks = cost.num_blocks();
  REPIPE_CHECK(stages >= 1 && stages <= blocks, stages << " stages of " << blocks << " blocks");
  const auto table = min_max_partition<std::int64_t>(
      stages, blocks,
      [&](int s, std::int64_t first, std::int64_t last) {
        return cost.stage_memory_bytes(first, last, s, stages);
      },
      [](int, std::int64_t) { return std::int64_t{0}; },
      [](int, std::int64_t, std::int64_t) { return true; });
  return table.value[stages - 1][blocks - 1];
}

Plan plan_straight_pipeline(const CostModel& cost, const PlanRequest& request) {
  check_plan_request(cost, request);
  const int stages = request.stages;
  const std::int64_t blocks = cost.num_blocks();

  // Pass 1: the optimal bottleneck, exactly (min_max_partition.h).
  const auto table = min_max_partition<double>(
      stages, blocks,
      [&](int s, std::int64_t first, std::int64_t last) {
        return cost.stage_compute_ms(first, last, s);
      },
      [&](int s, std::int64_t first) { return cost.boundary_ms(first - 1, s - 1, s); },
      [&](int s, std::int64_t first, std::int64_t last) {
        return fits(cost, s, stages, first, last);
      });
  const double bottleneck = table.value[stages - 1][blocks - 1];
  if (bottleneck == kInf) throw_no_plan_fits(cost, stages);

  // Pass 2: a second optimal split of least pipeline latency; keep whichever simulates faster.
  std::vector<Plan> candidates{
      straight_plan_from_starts(starts_from(table.start, stages, blocks), blocks, cost, request)};
  const double bound = bottleneck + kTieTolerance * bottleneck;
  const std::vector<std::int64_t> latency_starts = least_latency_starts(cost, stages, bound);
  if (!latency_starts.empty()) {
    Plan other = straight_plan_from_starts(latency_starts, blocks, cost, request);
    if (other != candidates.front()) candidates.push_back(std::move(other));
  }
  Plan best;
  PlanEstimate best_estimate;
  for (Plan& candidate : candidates) {
    PlanEstimate estimate = estimate_straight_plan(cost, candidate, request.simulate);
    if (best.stages.empty() || estimate.step_time_ms < best_estimate.step_time_ms) {
      best = std::move(candidate);
      best_estimate = estimate;
    }
  }
  best.prediction = PlanPrediction{best_estimate.step_time_ms, best_estimate.bottleneck_ms,
                                   best_estimate.bubble_fraction};
  validate_plan(best, request.model, blocks, stages, "straight pipeline plan");
  return best;
}

}  // namespace repipe
