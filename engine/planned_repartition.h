// engine/planned_repartition.h: repartitions given on the command line, "step=K,plan=FILE": before
// step K the pipeline moves its blocks live to the plan in FILE. For experiments, and until the
// dynamic loop decides them itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "partitioner/plan.h"

namespace repipe {

struct PlannedRepartition {
  std::int64_t step = 0;  // the first step that runs under the new plan
  std::string path;
  Plan plan;
};

// Parses specs separated by ';' or newlines and loads their plans; bad text or a bad plan file
// is a UsageError naming --repartition.
std::vector<PlannedRepartition> parse_planned_repartitions(const std::string& text);

// "0-3|4-7": each stage's blocks, for one-line logs.
std::string plan_blocks_text(const Plan& plan);

}  // namespace repipe
