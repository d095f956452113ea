// tests/partitioner/schedule_lists.h: schedules written as text in tests, and every kind.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "partitioner/schedule.h"

namespace repipe {

inline constexpr ScheduleKind kAllKinds[] = {ScheduleKind::kGPipe, ScheduleKind::k1F1BFlush,
                                             ScheduleKind::k1F1BStash};

// A schedule from its action strings, one string per stage: {"0F0 0B0", "1F0 1B0"}.
inline Schedule parse_lists(const std::vector<std::string>& stages) {
  Schedule schedule;
  for (const std::string& line : stages) {
    StageActions& actions = schedule.emplace_back();
    std::istringstream words(line);
    for (std::string word; words >> word;) actions.push_back(parse_action(word));
  }
  return schedule;
}

}  // namespace repipe
