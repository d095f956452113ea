// inference/synthetic_workload.h: `repipe workload synth`: DynWork's synthesized workloads,
// their jobs, buckets and setting, written as DynWork's files (done right: exact quantiles, each
// job keeps its modality, real bucket bounds).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference/arrivals.h"
#include "inference/latency_presets.h"
#include "inference/measured_sample.h"
#include "inference/trace.h"

namespace repipe {

struct SynthOptions {
  std::int64_t jobs = 0;  // 0: the preset's DynWork count
  int batch = 8;
  double rate_downgrade = 0.25;
  int trace_num = 50;
  std::string arrivals = "even";  // even | poisson | gamma:CV
  std::uint64_t seed = 1;
  double min_ms = 10, max_ms = 100;  // the latencies' range after normalisation
  // InputLen values to draw from (a measured sample's); empty: the column stays empty.
  std::vector<double> input_lengths;
  // `repipe workload real`: the mixture is in ms already (no scaling onto the range), the rate
  // comes from the sample's mean latency, and its batch curve becomes latencies.csv.
  bool scale_to_range = true;
  double mean_latency_ms = 0;  // 0: the middle of the range
  std::vector<BatchPoint> batch_curve;
};

// Structure of arrays: 10 million jobs stay cheap.
struct Jobs {
  std::vector<double> input_len;  // empty when no sample was given
  std::vector<double> length_ms;
  std::vector<double> admitted_ms;
  std::vector<int> bucket;
  std::size_t size() const { return length_ms.size(); }
};

struct SynthWorkload {
  LatencyPreset preset;
  Jobs jobs;
  double rate_per_s = 0;   // rate_downgrade x batch / mean latency (s)
  double interval_ms = 0;  // the arrival interval T
};

// Bad options are UsageErrors naming the flag (jobs < 2, batch < 1, rate_downgrade <= 0,
// min_ms >= max_ms, and arrival_times_ms()'s own).
SynthWorkload synthesize_workload(const LatencyPreset& preset, const Trace& trace,
                                  const SynthOptions& options);

// The buckets (one per modality): 10 equal-width bins from the bucket's smallest to its largest
// latency, the last bin closed; rows BucketIdx,BucketStart,BucketEnd,BinIdx,BinStart,BinEnd,
// BinValue. A modality with no job has no rows.
struct BucketBin {
  int bucket = 0;
  double bucket_start = 0, bucket_end = 0;
  int bin = 0;
  double bin_start = 0, bin_end = 0;
  std::int64_t count = 0;
};
std::vector<BucketBin> bucket_bins(const Jobs& jobs, int buckets);

// Writes DIR/jobs.bucketed.csv, buckets.csv, setting.csv (and latencies.csv from the options'
// batch curve when it has one); the folder is written under DIR.partial and renamed, so
// a failure leaves nothing. An existing DIR is replaced only if it holds a workload.
void write_synth_workload(const SynthWorkload& workload, const Trace& trace,
                          const SynthOptions& options, const std::string& dir);

}  // namespace repipe
