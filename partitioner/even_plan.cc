// partitioner/even_plan.cc: the default plan without a planner, balanced by parameter bytes.
#include "partitioner/plan.h"

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace repipe {

Plan even_plan_by_bytes(const std::string& model,
                        const std::vector<std::int64_t>& block_param_bytes, int stages,
                        const std::string& schedule, std::int64_t microbatches,
                        std::int64_t microbatch_size) {
  const auto n = static_cast<std::int64_t>(block_param_bytes.size());
  const std::string place = "default plan for model '" + model + "'";
  if (stages < 1) {
    throw UsageError(place + ": expected at least one stage, got " + std::to_string(stages));
  }
  if (stages > n) {
    throw UsageError(place + ": " + std::to_string(stages) + " stages, but the model has only " +
                     std::to_string(n) + " blocks and every stage needs at least one");
  }
  std::vector<std::int64_t> prefix(n + 1, 0);  // prefix[i]: bytes of blocks 0..i-1
  for (std::int64_t i = 0; i < n; ++i) {
    if (block_param_bytes[i] < 0) {
      throw UsageError(place + ": block " + std::to_string(i) +
                       ": expected a non-negative parameter byte count, got " +
                       std::to_string(block_param_bytes[i]));
    }
    prefix[i + 1] = prefix[i] + block_param_bytes[i];
  }
  const std::int64_t k = stages;
  constexpr std::int64_t kInf = std::numeric_limits<std::int64_t>::max();
  // Blocks i..n-1 must still fit the k-j stages after stage j, one block each at least.
  auto last_end = [&](std::int64_t j) { return n - (k - j); };

  // Pass 1: largest[j][i] = the smallest possible largest stage when j stages hold blocks 0..i-1.
  std::vector<std::vector<std::int64_t>> largest(k + 1, std::vector<std::int64_t>(n + 1, kInf));
  largest[0][0] = 0;
  for (std::int64_t j = 1; j <= k; ++j) {
    for (std::int64_t i = j; i <= last_end(j); ++i) {
      // Stage j holds blocks m..i-1; its bytes grow as m falls, so stop once they alone lose.
      for (std::int64_t m = i - 1; m >= j - 1; --m) {
        std::int64_t bytes = prefix[i] - prefix[m];
        if (bytes >= largest[j][i]) break;
        if (largest[j - 1][m] == kInf) continue;
        largest[j][i] = std::min(largest[j][i], std::max(largest[j - 1][m], bytes));
      }
    }
  }
  const std::int64_t bound = largest[k][n];

  // Pass 2: among splits whose stages all fit `bound`, the one with the least sum of squared
  // block counts, which favours even counts (a lexicographic (max, balance) DP in one pass would
  // not be exact: a worse prefix maximum can hide under a larger last stage).
  std::vector<std::vector<std::int64_t>> cost(k + 1, std::vector<std::int64_t>(n + 1, kInf));
  std::vector<std::vector<std::int64_t>> cut(k + 1, std::vector<std::int64_t>(n + 1, -1));
  cost[0][0] = 0;
  for (std::int64_t j = 1; j <= k; ++j) {
    for (std::int64_t i = j; i <= last_end(j); ++i) {
      for (std::int64_t m = i - 1; m >= j - 1 && prefix[i] - prefix[m] <= bound; --m) {
        if (cost[j - 1][m] == kInf) continue;
        std::int64_t c = cost[j - 1][m] + (i - m) * (i - m);
        if (c < cost[j][i]) {
          cost[j][i] = c;
          cut[j][i] = m;
        }
      }
    }
  }
  REPIPE_CHECK(cost[k][n] != kInf, "no split within the optimal bound " << bound);

  Plan plan;
  plan.model = model;
  plan.schedule = schedule;
  plan.microbatches = microbatches;
  plan.microbatch_size = microbatch_size;
  plan.stages.resize(static_cast<std::size_t>(k));
  for (std::int64_t j = k, end = n; j >= 1; --j) {
    std::int64_t begin = cut[j][end];
    plan.stages[j - 1] = StagePlan{begin, end - 1, {static_cast<int>(j - 1)}};
    end = begin;
  }
  // The caller's schedule and micro-batch counts get the same checks as a loaded plan's.
  validate_plan(plan, model, n, stages, place);
  return plan;
}

std::int64_t max_stage_bytes(const Plan& plan, const std::vector<std::int64_t>& block_param_bytes) {
  std::int64_t largest = 0;
  for (const StagePlan& stage : plan.stages) {
    REPIPE_CHECK(stage.first_block >= 0 &&
                     stage.last_block < static_cast<std::int64_t>(block_param_bytes.size()),
                 "stage blocks " << stage.first_block << ".." << stage.last_block << " of "
                                 << block_param_bytes.size());
    std::int64_t bytes = 0;
    for (std::int64_t b = stage.first_block; b <= stage.last_block; ++b) {
      bytes += block_param_bytes[b];
    }
    largest = std::max(largest, bytes);
  }
  return largest;
}

}  // namespace repipe
