// inference/measured_sample.h: a measured inference sample, as `repipe workload sample` writes it
// and `repipe workload real` reads it: DIR/requests.csv (InputLen,InferenceLatency,OutputLen:
// one request each, latency in ms) and DIR/batch.csv (BatchSize,InferenceLatency: the batch-size
// curve). DynWork's sample CSVs, measured by repipe on the zoo's own models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace repipe {

struct RequestSample {
  double input_len = 0;
  double latency_ms = 0;
  double output_len = 0;
};

struct BatchPoint {
  std::int64_t batch_size = 0;
  double latency_ms = 0;
};

struct MeasuredSample {
  std::vector<RequestSample> requests;
  std::vector<BatchPoint> batch_curve;
};

// Reads DIR; a missing or malformed file (or no requests) is a UsageError naming it.
MeasuredSample read_measured_sample(const std::string& dir);
// Writes DIR/requests.csv and DIR/batch.csv (the folder is created).
void write_measured_sample(const MeasuredSample& sample, const std::string& dir);

// DynWork's outlier filter: for each column in turn (input length, latency, output length), the
// rows outside [Q1 - 5 IQR, Q3 + 5 IQR] of what is left are dropped.
std::vector<RequestSample> without_outliers(std::vector<RequestSample> requests);

// The q-quantile (0..1) with linear interpolation between order statistics, as pandas' quantile.
double quantile_of(std::vector<double> values, double q);

}  // namespace repipe
