// inference/arrivals.cc: the scaled counts per interval, then even spacing or a point process
// run in the time-warped clock where the rate is 1.
#include "inference/arrivals.h"

#include <charconv>
#include <cmath>
#include <random>

#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

// The down-sampled counts, scaled to jobs / trace_num per interval on average (not rounded).
std::vector<double> scaled_counts(const Trace& trace, const ArrivalOptions& o) {
  const std::size_t length = trace.count.size();
  const std::size_t step = std::max<std::size_t>(1, length / static_cast<std::size_t>(o.trace_num));
  std::vector<double> sampled;
  for (std::size_t i = 0; i < length; i += step) sampled.push_back(trace.count[i]);
  double mean = 0;
  for (double c : sampled) mean += c;
  mean /= static_cast<double>(sampled.size());
  if (!(mean > 0)) throw UsageError("flag --trace: " + trace.name + ": every sampled count is 0");
  const double target = static_cast<double>(o.jobs) / o.trace_num;
  for (double& c : sampled) c = c * target / mean;
  return sampled;
}

double gamma_cv(const std::string& process) {
  const std::string number = process.substr(6);
  double cv = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), cv);
  if (error != std::errc() || end != number.data() + number.size() || !(cv > 0) ||
      !std::isfinite(cv)) {
    throw UsageError("flag --arrivals: gamma:CV needs a coefficient of variation > 0, got '" +
                     number + "'");
  }
  return cv;
}

}  // namespace

double arrival_interval_ms(const ArrivalOptions& o) {
  return static_cast<double>(o.jobs) / o.rate_per_s / o.trace_num * 1000;
}

std::vector<double> arrival_times_ms(const Trace& trace, const ArrivalOptions& o) {
  if (o.jobs < 1) throw UsageError("flag --jobs: expected at least 1 job");
  if (!(o.rate_per_s > 0) || !std::isfinite(o.rate_per_s)) {
    throw UsageError("the job rate must be > 0 (flags --rate-downgrade, --batch), got " +
                     format_double(o.rate_per_s));
  }
  if (o.trace_num < 1) throw UsageError("flag --trace-num: expected at least 1 interval");
  const bool even = o.process == "even";
  const bool poisson = o.process == "poisson";
  const bool gamma = o.process.rfind("gamma:", 0) == 0;
  if (!even && !poisson && !gamma) {
    throw UsageError("flag --arrivals: expected even, poisson or gamma:CV, got '" + o.process +
                     "'");
  }
  const double cv = gamma ? gamma_cv(o.process) : 1;
  const double interval = arrival_interval_ms(o);
  const std::vector<double> counts = scaled_counts(trace, o);
  const auto jobs = static_cast<std::size_t>(o.jobs);
  std::vector<double> times;
  times.reserve(jobs);

  if (even) {
    // Interval by interval, as DynWork's np.linspace(i·T, (i+1)·T, n, endpoint=False); the
    // trace repeats if its rounded-up counts still fall short.
    for (std::size_t i = 0; times.size() < jobs; ++i) {
      const double c = counts[i % counts.size()];
      const auto n = static_cast<std::int64_t>(c > 1 ? std::ceil(c) : 1);
      const double start = static_cast<double>(i) * interval;
      for (std::int64_t j = 0; j < n && times.size() < jobs; ++j) {
        times.push_back(start + static_cast<double>(j) * interval / static_cast<double>(n));
      }
    }
    return times;
  }

  // Gaps of mean 1 in "expected arrivals" units, mapped back through the piecewise-constant
  // rate: inside interval i one unit lasts interval / counts[i] ms.
  std::mt19937_64 rng(o.seed);
  const double shape = 1 / (cv * cv);
  std::gamma_distribution<double> gap(shape, 1 / shape);  // mean 1, CV cv (exponential at cv 1)
  std::size_t i = 0;
  double left = counts[0];  // expected arrivals left in interval i
  double t = 0;             // ms
  double next = gamma ? gap(rng) : std::exponential_distribution<double>(1.0)(rng);
  std::exponential_distribution<double> exponential(1.0);
  for (;;) {
    const double rate = counts[i % counts.size()];  // arrivals per interval
    if (next <= left) {
      t += next / rate * interval;
      left -= next;
      times.push_back(t);
      if (times.size() == jobs) return times;
      next = gamma ? gap(rng) : exponential(rng);
    } else {
      next -= left;
      t = static_cast<double>(i + 1) * interval;
      ++i;
      left = counts[i % counts.size()];
    }
  }
}

}  // namespace repipe
