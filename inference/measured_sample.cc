// inference/measured_sample.cc: the sample's two CSVs and its statistics.
#include "inference/measured_sample.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/csv_reader.h"
#include "common/csv_writer.h"
#include "common/error.h"

namespace repipe {

double quantile_of(std::vector<double> values, double q) {
  REPIPE_CHECK(!values.empty() && q >= 0 && q <= 1, "quantile " << q << " of " << values.size());
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (position - static_cast<double>(below)) * (values[above] - values[below]);
}

std::vector<RequestSample> without_outliers(std::vector<RequestSample> requests) {
  for (double RequestSample::*column :
       {&RequestSample::input_len, &RequestSample::latency_ms, &RequestSample::output_len}) {
    if (requests.empty()) break;
    std::vector<double> values;
    for (const RequestSample& r : requests) values.push_back(r.*column);
    const double q1 = quantile_of(values, 0.25), q3 = quantile_of(values, 0.75);
    const double low = q1 - 5 * (q3 - q1), high = q3 + 5 * (q3 - q1);
    std::erase_if(requests,
                  [&](const RequestSample& r) { return r.*column < low || r.*column > high; });
  }
  return requests;
}

MeasuredSample read_measured_sample(const std::string& dir) {
  MeasuredSample sample;
  const std::string requests = (std::filesystem::path(dir) / "requests.csv").string();
  CsvTable table = CsvTable::read(requests, {"InputLen", "InferenceLatency", "OutputLen"},
                                  "workload sample (requests)");
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const CsvRow row = table.row(r);
    const double latency = row.number("InferenceLatency");
    if (!(latency > 0)) row.fail("InferenceLatency", "a latency > 0 ms");
    sample.requests.push_back({row.number("InputLen"), latency, row.number("OutputLen")});
  }
  if (sample.requests.empty()) throw UsageError(requests + ": no requests");
  const std::string batch = (std::filesystem::path(dir) / "batch.csv").string();
  if (std::filesystem::exists(batch)) {
    CsvTable curve =
        CsvTable::read(batch, {"BatchSize", "InferenceLatency"}, "workload sample (batch curve)");
    for (std::size_t r = 0; r < curve.rows(); ++r) {
      const CsvRow row = curve.row(r);
      sample.batch_curve.push_back({row.integer("BatchSize"), row.number("InferenceLatency")});
    }
  }
  return sample;
}

void write_measured_sample(const MeasuredSample& sample, const std::string& dir) {
  std::filesystem::create_directories(dir);
  CsvWriter requests(std::filesystem::path(dir) / "requests.csv",
                     {"InputLen", "InferenceLatency", "OutputLen"});
  for (const RequestSample& r : sample.requests) {
    requests.write_row({r.input_len, r.latency_ms, r.output_len});
  }
  CsvWriter batch(std::filesystem::path(dir) / "batch.csv", {"BatchSize", "InferenceLatency"});
  for (const BatchPoint& p : sample.batch_curve) batch.write_row({p.batch_size, p.latency_ms});
}

}  // namespace repipe
