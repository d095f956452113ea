// engine/slowdown_injection.h: injected slowdowns, for repartitioning experiments and tests.
//
// "rank=1,factor=2.5,from=200,to=600" slows rank 1 (the device, whatever blocks it holds) by
// 2.5x from step 200 inclusive to 600 exclusive: after each forward and backward it sleeps
// (factor - 1) times the compute it just measured. Sleeping, not spinning: on a small CPU
// machine a slowed rank leaves the cores to the others, as a slowed GPU would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace repipe {

struct SlowdownInjection {
  int rank = 0;
  double factor = 1;
  std::int64_t from = 0;  // first slowed step
  std::int64_t to = 0;    // first step no longer slowed
};

// Parses specs separated by ';' or newlines (a repeated --inject flag); empty text: none.
// Bad text is a UsageError naming the flag and the expected form.
std::vector<SlowdownInjection> parse_slowdown_injections(const std::string& text);

// The factor by which `rank` is slowed at `step` (overlapping injections multiply); 1 if none.
double slowdown_factor(const std::vector<SlowdownInjection>& injections, int rank,
                       std::int64_t step);

}  // namespace repipe
