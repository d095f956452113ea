// benchmarks/median_interval.h: the median of repeated measurements and a distribution-free
// confidence interval for it, as the benchmarks report their ratios.
//
// The interval comes from order statistics (the sign test): for n values sorted x(1)..x(n), the
// interval [x(k), x(n+1-k)] contains the true median with probability 1 - 2 P(Bin(n, 1/2) < k),
// whatever the distribution of the noise. We take the largest k that keeps that probability at
// least `confidence`; with fewer than 6 values no k > 1 does it for 95%, and the interval is
// the whole range.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace repipe::bench {

inline double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median of nothing");
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

struct Interval {
  double low = 0;
  double high = 0;
  double coverage = 0;  // probability that the interval holds the true median
};

inline Interval median_interval(std::vector<double> values, double confidence = 0.95) {
  if (values.empty()) throw std::invalid_argument("interval of nothing");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  // Candidate k has coverage 1 - 2 P(X < k), X ~ Bin(n, 1/2); term walks P(X = i) upwards.
  double term = std::pow(0.5, static_cast<double>(n));  // P(X = 0)
  double below = term;                                  // P(X < 1)
  std::size_t k = 1;                                    // the full range [x(1), x(n)]
  double coverage = 1 - 2 * below;
  for (std::size_t next = 2; next <= (n + 1) / 2; ++next) {
    const double i = static_cast<double>(next - 1);
    term *= (static_cast<double>(n) - i + 1) / i;  // P(X = next - 1)
    below += term;                                 // P(X < next)
    if (1 - 2 * below < confidence) break;
    k = next;
    coverage = 1 - 2 * below;
  }
  return {values[k - 1], values[n - k], coverage};
}

}  // namespace repipe::bench
