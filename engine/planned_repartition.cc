#include "engine/planned_repartition.h"

#include "common/error.h"
#include "common/text_format.h"

namespace repipe {

std::vector<PlannedRepartition> parse_planned_repartitions(const std::string& text) {
  std::vector<PlannedRepartition> planned;
  auto parse = [&](const std::string& one) {
    const std::string form = "; expected step=K,plan=FILE with K >= 2";
    const std::size_t comma = one.find(",plan=");
    if (one.rfind("step=", 0) != 0 || comma == std::string::npos) {
      throw UsageError("--repartition: cannot read '" + one + "'" + form);
    }
    PlannedRepartition p;
    try {
      std::size_t used = 0;
      const std::string step = one.substr(5, comma - 5);
      p.step = std::stoll(step, &used);
      if (used != step.size()) throw std::invalid_argument(step);
    } catch (const std::logic_error&) {
      throw UsageError("--repartition: a bad step in '" + one + "'" + form);
    }
    if (p.step < 2) throw UsageError("--repartition: step " + std::to_string(p.step) + form);
    p.path = one.substr(comma + 6);
    p.plan = load_plan(p.path);
    planned.push_back(std::move(p));
  };
  for (const std::string& spec : split_specs(text)) parse(spec);
  return planned;
}

std::string plan_blocks_text(const Plan& plan) {
  std::string text;
  for (const StagePlan& stage : plan.stages) {
    if (!text.empty()) text += "|";
    text += std::to_string(stage.first_block) + "-" + std::to_string(stage.last_block);
  }
  return text;
}

}  // namespace repipe
