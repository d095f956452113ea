// inference/synthetic_workload.cc: latencies from the preset's mixture, shuffled with their
// modalities, arrivals from the trace, and the files, formatted with std::to_chars (10 million
// rows in seconds).
#include "inference/synthetic_workload.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "common/csv_writer.h"
#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// Appends a number as the shortest text that reads back to it.
void append(std::string& out, double value) {
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
}
// Milliseconds to 0.1 microsecond: all a latency or an arrival time can mean, half the bytes.
void append_ms(std::string& out, double value) {
  char buffer[32];
  const auto [end, error] =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, 4);
  out.append(buffer, end);
}
void append(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) throw UsageError(path.string() + ": cannot write");
}

std::string joined(const std::vector<double>& values) {
  std::string text;
  for (double v : values) {
    if (!text.empty()) text += ' ';
    append(text, v);
  }
  return text;
}

}  // namespace

SynthWorkload synthesize_workload(const LatencyPreset& preset, const Trace& trace,
                                  const SynthOptions& o) {
  const std::int64_t jobs = o.jobs > 0 ? o.jobs : preset.jobs;
  if (jobs < 2) throw UsageError("flag --jobs: expected at least 2 jobs");
  if (jobs < static_cast<std::int64_t>(preset.mu.size())) {
    throw UsageError("flag --jobs: " + std::to_string(jobs) + " jobs cannot fill the " +
                     std::to_string(preset.mu.size()) + " modalities (buckets) of " + preset.name);
  }
  if (o.batch < 1) throw UsageError("flag --batch: expected at least 1");
  if (!(o.rate_downgrade > 0)) throw UsageError("flag --rate-downgrade: expected a share > 0");
  if (!(o.min_ms >= 0 && o.min_ms < o.max_ms)) {
    throw UsageError("flag --latency-range: expected MIN,MAX ms with 0 <= MIN < MAX");
  }
  SynthWorkload w;
  w.preset = preset;
  const GaussianMixture mixture(preset.mu, preset.sigma);
  std::vector<JobLatency> grid = o.scale_to_range
                                     ? mixture_latency_grid(mixture, jobs, o.min_ms, o.max_ms)
                                     : mixture_quantile_grid(mixture, jobs);
  // A latency is positive: the far left tail of a narrow mode near 0 ms is cut at 1 us.
  for (JobLatency& job : grid) job.ms = std::max(job.ms, 1e-3);
  // One shuffle of (latency, modality) pairs: they stay together.
  std::mt19937_64 rng(o.seed);
  std::shuffle(grid.begin(), grid.end(), rng);
  w.jobs.length_ms.reserve(grid.size());
  w.jobs.bucket.reserve(grid.size());
  for (const JobLatency& job : grid) {
    w.jobs.length_ms.push_back(job.ms);
    w.jobs.bucket.push_back(job.modality);
  }
  if (!o.input_lengths.empty()) {
    std::uniform_int_distribution<std::size_t> pick(0, o.input_lengths.size() - 1);
    w.jobs.input_len.reserve(grid.size());
    for (std::size_t i = 0; i < grid.size(); ++i)
      w.jobs.input_len.push_back(o.input_lengths[pick(rng)]);
  }
  // DynWork's rate: a share of one batched server's throughput at the mean latency.
  const double mean_ms = o.mean_latency_ms > 0 ? o.mean_latency_ms : 0.5 * (o.min_ms + o.max_ms);
  w.rate_per_s = o.rate_downgrade * o.batch / (mean_ms / 1000);
  ArrivalOptions arrivals{jobs, w.rate_per_s, o.trace_num, o.arrivals, o.seed};
  w.jobs.admitted_ms = arrival_times_ms(trace, arrivals);
  w.interval_ms = arrival_interval_ms(arrivals);
  return w;
}

std::vector<BucketBin> bucket_bins(const Jobs& jobs, int buckets) {
  constexpr int kBins = 10;
  std::vector<BucketBin> rows;
  for (int b = 0; b < buckets; ++b) {
    double low = HUGE_VAL, high = -HUGE_VAL;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (jobs.bucket[i] != b) continue;
      low = std::min(low, jobs.length_ms[i]);
      high = std::max(high, jobs.length_ms[i]);
    }
    if (low > high) continue;  // no job in this modality
    const double width = (high - low) / kBins;
    std::vector<std::int64_t> count(kBins, 0);
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (jobs.bucket[i] != b) continue;
      int bin = width > 0 ? static_cast<int>((jobs.length_ms[i] - low) / width) : 0;
      ++count[static_cast<std::size_t>(std::clamp(bin, 0, kBins - 1))];  // the last bin is closed
    }
    for (int bin = 0; bin < kBins; ++bin) {
      rows.push_back({b, low, high, bin, low + bin * width,
                      bin + 1 == kBins ? high : low + (bin + 1) * width,
                      count[static_cast<std::size_t>(bin)]});
    }
  }
  return rows;
}

void write_synth_workload(const SynthWorkload& w, const Trace& trace, const SynthOptions& o,
                          const std::string& dir) {
  const fs::path final_dir(dir);
  if (fs::exists(final_dir) && !fs::is_directory(final_dir)) {
    throw UsageError("flag --output: " + dir + " is a file; expected a folder");
  }
  if (fs::is_directory(final_dir) && !fs::is_empty(final_dir) &&
      !fs::exists(final_dir / "jobs.bucketed.csv")) {
    throw UsageError("flag --output: " + dir +
                     " holds other files; expected a new folder or a workload");
  }
  const fs::path partial = final_dir.string() + ".partial";
  fs::remove_all(partial);
  fs::create_directories(partial);
  try {
    const Jobs& jobs = w.jobs;
    std::string text = "JobId,InputLen,Length,Admitted,BucketIdx\n";
    text.reserve(jobs.size() * 48);
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      append(text, static_cast<std::int64_t>(i));
      text += ',';
      if (!jobs.input_len.empty()) append(text, jobs.input_len[i]);
      text += ',';
      append_ms(text, jobs.length_ms[i]);
      text += ',';
      append_ms(text, jobs.admitted_ms[i]);
      text += ',';
      append(text, static_cast<std::int64_t>(jobs.bucket[i]));
      text += '\n';
    }
    write_text(partial / "jobs.bucketed.csv", text);

    text = "BucketIdx,BucketStart,BucketEnd,BinIdx,BinStart,BinEnd,BinValue\n";
    for (const BucketBin& r : bucket_bins(jobs, static_cast<int>(w.preset.mu.size()))) {
      append(text, static_cast<std::int64_t>(r.bucket));
      for (double v : {r.bucket_start, r.bucket_end}) {
        text += ',';
        append(text, v);
      }
      text += ',';
      append(text, static_cast<std::int64_t>(r.bin));
      for (double v : {r.bin_start, r.bin_end}) {
        text += ',';
        append(text, v);
      }
      text += ',';
      append(text, r.count);
      text += '\n';
    }
    write_text(partial / "buckets.csv", text);

    text =
        "trace,task,modal_num,mu,sigma,job_num,batch,rate_downgrade,incoming_rate,trace_num,"
        "interval_ms,arrivals,seed,min_ms,max_ms\n";
    text += csv_escape(trace.name) + "," + w.preset.name + "," +
            std::to_string(w.preset.mu.size()) + "," + joined(w.preset.mu) + "," +
            joined(w.preset.sigma) + "," + std::to_string(jobs.size()) + "," +
            std::to_string(o.batch) + ",";
    append(text, o.rate_downgrade);
    text += ',';
    append(text, w.rate_per_s);
    text += "," + std::to_string(o.trace_num) + ",";
    append(text, w.interval_ms);
    text += "," + o.arrivals + "," + std::to_string(o.seed) + ",";
    if (o.scale_to_range) {  // a measured mixture is not rescaled: no range applies
      append(text, o.min_ms);
      text += ',';
      append(text, o.max_ms);
    } else {
      text += ',';
    }
    text += '\n';
    write_text(partial / "setting.csv", text);

    if (!o.batch_curve.empty()) {
      text = "BatchSize,InferenceLatency\n";
      for (const BatchPoint& point : o.batch_curve) {
        append(text, point.batch_size);
        text += ',';
        append(text, point.latency_ms);
        text += '\n';
      }
      write_text(partial / "latencies.csv", text);
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    throw;
  }
  fs::remove_all(final_dir);
  fs::rename(partial, final_dir);
}

}  // namespace repipe
