// inference/serving_requests.cc: job files and trace-shaped Poisson arrivals for the simulator.
#include "inference/serving_requests.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/csv_reader.h"
#include "common/error.h"
#include "common/seed.h"

namespace repipe {

std::vector<ServingRequest> requests_from_jobs(const std::string& path, int models) {
  if (models < 1) throw UsageError(path + ": the plan has no model to send jobs to");
  const CsvTable table =
      CsvTable::read(path, {"JobId", "InputLen", "Length", "Admitted", "BucketIdx"}, "job file");
  std::vector<ServingRequest> requests;
  requests.reserve(table.rows());
  for (std::size_t i = 0; i < table.rows(); ++i) {
    const CsvRow row = table.row(i);
    const double admitted_ms = row.number("Admitted");
    if (admitted_ms < 0) row.fail("Admitted", "a time >= 0 ms");
    const std::int64_t bucket = row.integer("BucketIdx");
    if (bucket < 0) row.fail("BucketIdx", "an index >= 0");
    requests.push_back({admitted_ms / 1000, static_cast<int>(bucket % models)});
  }
  if (requests.empty()) throw UsageError(path + ": no jobs");
  return requests;
}

std::vector<double> trace_shape(const Trace& trace, std::size_t periods) {
  REPIPE_CHECK(periods >= 1 && !trace.count.empty(), "trace_shape");
  // Piece i covers [i·n/periods, (i+1)·n/periods) of the trace's n counts, fractions included.
  const auto n = static_cast<double>(trace.count.size());
  std::vector<double> shape(periods);
  for (std::size_t i = 0; i < periods; ++i) {
    const double from = n * static_cast<double>(i) / static_cast<double>(periods);
    const double to = n * static_cast<double>(i + 1) / static_cast<double>(periods);
    double sum = 0;
    for (auto k = static_cast<std::size_t>(from); static_cast<double>(k) < to; ++k) {
      const double overlap =
          std::min(to, static_cast<double>(k + 1)) - std::max(from, static_cast<double>(k));
      sum += overlap * trace.count[std::min(k, trace.count.size() - 1)];
    }
    shape[i] = sum / (to - from);
  }
  const double mean =
      std::accumulate(shape.begin(), shape.end(), 0.0) / static_cast<double>(periods);
  REPIPE_CHECK(mean > 0, "trace " << trace.name << " has no requests");
  for (double& s : shape) s /= mean;
  return shape;
}

std::vector<ServingRequest> requests_from_trace(const Trace& trace,
                                                const std::vector<double>& rates_per_s,
                                                double duration_s, double period_s,
                                                std::uint64_t seed) {
  if (!(duration_s > 0)) throw UsageError("--duration: expected a time > 0 s");
  if (!(period_s > 0) || period_s > duration_s)
    throw UsageError("--period: expected a time > 0 s and at most --duration");
  const auto periods = static_cast<std::size_t>(std::llround(duration_s / period_s));
  const std::vector<double> shape = trace_shape(trace, std::max<std::size_t>(periods, 1));
  std::vector<ServingRequest> requests;
  for (std::size_t m = 0; m < rates_per_s.size(); ++m) {
    if (!(rates_per_s[m] >= 0)) throw UsageError("rates: expected rates >= 0 per second");
    std::mt19937_64 random(mix_seed(seed, m));
    std::exponential_distribution<double> unit(1.0);
    // A Poisson process of piecewise-constant rate: unit-rate gaps in the integrated rate.
    double budget = unit(random);
    for (std::size_t i = 0; i < shape.size(); ++i) {
      const double rate = rates_per_s[m] * shape[i];
      const double start = static_cast<double>(i) * period_s;
      double t = 0;
      while (rate > 0 && t + budget / rate < period_s) {
        t += budget / rate;
        requests.push_back({start + t, static_cast<int>(m)});
        budget = unit(random);
      }
      budget -= rate * (period_s - t);
    }
  }
  std::stable_sort(
      requests.begin(), requests.end(),
      [](const ServingRequest& a, const ServingRequest& b) { return a.arrival_s < b.arrival_s; });
  return requests;
}

}  // namespace repipe
