// inference/arrivals.h: job arrival times (`Admitted`, ms from 0) that follow a trace's shape at
// a target rate.
//
// DynWork's method (../shared/reference/dynwork-deinfer.md A.2): the jobs span jobs / rate
// seconds, cut into `trace_num` intervals of T ms; the trace is down-sampled at step
// floor(len / trace_num) (which may give a few more than trace_num points) and each sampled
// count c scaled to c · (jobs / trace_num) / mean, rounded up (at least 1); interval i gets that
// many arrivals spaced evenly from i·T, and the list is cut at `jobs`.
//   even        exactly that, deterministic;
//   poisson     a Poisson process whose rate in interval i is its scaled count / T;
//   gamma:CV    a renewal process with gamma gaps of coefficient of variation CV in the same
//               time-varying rate (CV 1 is Poisson; > 1 burstier, < 1 more regular).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference/trace.h"

namespace repipe {

struct ArrivalOptions {
  std::int64_t jobs = 0;
  double rate_per_s = 0;         // > 0
  int trace_num = 50;            // intervals
  std::string process = "even";  // even | poisson | gamma:CV
  std::uint64_t seed = 1;
};

// Bad options (jobs < 1, rate <= 0, trace_num < 1, an unknown process, CV <= 0) are a
// UsageError naming the flag. The result has `jobs` times, non-decreasing, the first at 0 for
// `even`.
std::vector<double> arrival_times_ms(const Trace& trace, const ArrivalOptions& options);

// The interval length T, in ms: jobs / rate / trace_num seconds.
double arrival_interval_ms(const ArrivalOptions& options);

}  // namespace repipe
