// Tests of the workload generator's parts: the mixture's quantile grid, the presets' statistics,
// modalities kept with their latencies, DynWork's reference arrivals, Poisson and gamma
// arrivals, the buckets, and the trace readers with their errors.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "inference/arrivals.h"
#include "inference/gaussian_mixture.h"
#include "inference/latency_presets.h"
#include "inference/measured_sample.h"
#include "inference/synthetic_workload.h"
#include "inference/trace.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

TEST(GaussianMixture, QuantileInvertsTheCdfAcrossTheRange) {
  const GaussianMixture mixture({-3, 3}, {0.5, 2});
  double previous = -HUGE_VAL;
  for (double p : {1e-9, 1e-4, 0.01, 0.25, 0.5, 0.5000001, 0.75, 0.99, 1 - 1e-9}) {
    const double x = mixture.quantile(p);
    EXPECT_NEAR(mixture.cdf(x), p, 1e-12 + 1e-9 * p) << "p = " << p;
    EXPECT_GT(x, previous);
    previous = x;
  }
  // From a far-off guess too.
  EXPECT_NEAR(mixture.cdf(mixture.quantile(0.3, 1e6)), 0.3, 1e-12);
  EXPECT_EQ(mixture.most_likely_component(-2.9), 0);
  EXPECT_EQ(mixture.most_likely_component(2), 1);
}

TEST(LatencyPresets, AreDynWorksThirteenWithItsMeansAndSigmas) {
  std::vector<std::string> names;
  for (const LatencyPreset& p : latency_presets()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"one_modal", "two_modal", "three_modal", "four_modal",
                                             "five_modal", "six_modal", "seven_modal",
                                             "eight_modal", "std_0.5", "std_1", "std_2",
                                             "left_0.5_right_2", "left_2_right_0.5"}));
  EXPECT_EQ(find_latency_preset("five_modal").mu, (std::vector<double>{-45, -30, -15, 0, 15}));
  EXPECT_EQ(find_latency_preset("eight_modal").mu.back(), 180);
  EXPECT_EQ(find_latency_preset("left_2_right_0.5").sigma, (std::vector<double>{2, 0.5}));
  EXPECT_EQ(find_latency_preset("seven_modal").jobs, 2500);
  EXPECT_THROW(find_latency_preset("nine_modal"), UsageError);
}

TEST(LatencyGrid, IsTheMixturesQuantilesScaledOntoTheRangeEndsIncluded) {
  const GaussianMixture mixture({-3, 3}, {1, 1});
  const std::vector<JobLatency> grid = mixture_latency_grid(mixture, 1001, 10, 100);
  ASSERT_EQ(grid.size(), 1001u);
  EXPECT_EQ(grid.front().ms, 10);
  EXPECT_EQ(grid.back().ms, 100);
  for (std::size_t i = 1; i < grid.size(); ++i) EXPECT_GT(grid[i].ms, grid[i - 1].ms);
  // Symmetric mixture: the median job sits in the middle of the range, the halves split evenly.
  EXPECT_NEAR(grid[500].ms, 55, 1e-9);
  const auto first_of_second =
      std::find_if(grid.begin(), grid.end(), [](const JobLatency& j) { return j.modality == 1; });
  EXPECT_EQ(first_of_second - grid.begin(), 501);  // the median itself is a tie: component 0
  // Point i is the quantile at p0 + (1 - 2 p0) i / (n - 1), p0 = 1 / (100 n), before scaling.
  const double p0 = 1.0 / (100 * 1001);
  const double low = mixture.quantile(p0), high = mixture.quantile(1 - p0);
  const double p = p0 + (1 - 2 * p0) * 250 / 1000;
  EXPECT_NEAR(grid[250].ms, 10 + (mixture.quantile(p) - low) / (high - low) * 90, 1e-9);
}

double mean_of(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

TEST(SynthesizedWorkload, PresetStatisticsAndModalitiesStayWithTheirLatencies) {
  const Trace constant{"constant", {1.0}, 1};
  SynthOptions options;
  options.jobs = 20000;
  for (const LatencyPreset& preset : latency_presets()) {
    const SynthWorkload w = synthesize_workload(preset, constant, options);
    ASSERT_EQ(w.jobs.size(), 20000u);
    const int modes = static_cast<int>(preset.mu.size());
    std::vector<std::vector<double>> by_mode(static_cast<std::size_t>(modes));
    for (std::size_t i = 0; i < w.jobs.size(); ++i) {
      by_mode[static_cast<std::size_t>(w.jobs.bucket[i])].push_back(w.jobs.length_ms[i]);
    }
    EXPECT_EQ(*std::min_element(w.jobs.length_ms.begin(), w.jobs.length_ms.end()), 10);
    EXPECT_EQ(*std::max_element(w.jobs.length_ms.begin(), w.jobs.length_ms.end()), 100);
    // Equal weights: every modality gets its share (more where sigmas differ: the wide one
    // claims the tails).
    for (int m = 0; m < modes; ++m) {
      const double share = static_cast<double>(by_mode[static_cast<std::size_t>(m)].size()) / 20000;
      EXPECT_GT(share, 0.6 / modes) << preset.name << " modality " << m;
      EXPECT_LT(share, 1.4 / modes) << preset.name << " modality " << m;
    }
    // Modalities are ordered by their means, and with means 6 sigma apart or more they do not
    // overlap: the latencies kept their modality through the shuffle.
    for (int m = 1; m < modes; ++m) {
      EXPECT_LT(mean_of(by_mode[static_cast<std::size_t>(m - 1)]),
                mean_of(by_mode[static_cast<std::size_t>(m)]));
      if (preset.group == "Modal_num") {
        EXPECT_LT(*std::max_element(by_mode[m - 1].begin(), by_mode[m - 1].end()),
                  *std::min_element(by_mode[m].begin(), by_mode[m].end()))
            << preset.name;
      }
    }
    if (modes == 1 || preset.name == "two_modal" || preset.name.rfind("std_", 0) == 0) {
      EXPECT_NEAR(mean_of(w.jobs.length_ms), 55, 0.01) << preset.name << ": symmetric";
    }
  }
  // Unequal sigmas: the narrow mode is narrow.
  const SynthWorkload w =
      synthesize_workload(find_latency_preset("left_0.5_right_2"), constant, options);
  std::vector<double> spread(2, 0), low(2, HUGE_VAL), high(2, -HUGE_VAL);
  for (std::size_t i = 0; i < w.jobs.size(); ++i) {
    const auto m = static_cast<std::size_t>(w.jobs.bucket[i]);
    low[m] = std::min(low[m], w.jobs.length_ms[i]);
    high[m] = std::max(high[m], w.jobs.length_ms[i]);
  }
  EXPECT_LT(high[0] - low[0], 0.5 * (high[1] - low[1]));
}

TEST(SynthesizedWorkload, TheShuffleAndTheInputLengthsFollowTheSeed) {
  const Trace constant{"constant", {1.0}, 1};
  SynthOptions options;
  options.input_lengths = {3, 5, 8};
  const LatencyPreset& preset = find_latency_preset("three_modal");
  const SynthWorkload a = synthesize_workload(preset, constant, options);
  const SynthWorkload b = synthesize_workload(preset, constant, options);
  options.seed = 2;
  const SynthWorkload c = synthesize_workload(preset, constant, options);
  EXPECT_EQ(a.jobs.length_ms, b.jobs.length_ms);
  EXPECT_EQ(a.jobs.input_len, b.jobs.input_len);
  EXPECT_NE(a.jobs.length_ms, c.jobs.length_ms);
  for (double len : a.jobs.input_len) EXPECT_TRUE(len == 3 || len == 5 || len == 8);
  std::vector<double> sorted_a = a.jobs.length_ms, sorted_c = c.jobs.length_ms;
  std::sort(sorted_a.begin(), sorted_a.end());
  std::sort(sorted_c.begin(), sorted_c.end());
  EXPECT_EQ(sorted_a, sorted_c) << "the same grid, shuffled otherwise";
}

TEST(Arrivals, ReproduceDynWorksWorldCupReference) {
  const Trace worldcup = load_trace("worldcup", REPIPE_SOURCE_DIR);
  ASSERT_EQ(worldcup.count.size(), 50401u);  // 1998-06-26 10:00:01 .. 06-27 00:00:01
  ArrivalOptions o;
  o.jobs = 200;
  o.rate_per_s = 0.25 * 8 / 0.055;
  o.trace_num = 50;
  EXPECT_NEAR(arrival_interval_ms(o), 110, 1e-9);
  const std::vector<double> t = arrival_times_ms(worldcup, o);
  ASSERT_EQ(t.size(), 200u);
  EXPECT_EQ(t.front(), 0);
  EXPECT_NEAR(t.back(), 4387.78, 0.005);
  // The first intervals get 1 job each, the eighth 2 (DynWork's counts 1,1,1,1,1,1,1,2,2,...).
  for (int j = 0; j < 7; ++j) EXPECT_NEAR(t[static_cast<std::size_t>(j)], 110.0 * j, 1e-9);
  EXPECT_NEAR(t[7], 770, 1e-9);
  EXPECT_NEAR(t[8], 825, 1e-9);
  EXPECT_TRUE(std::is_sorted(t.begin(), t.end()));
}

TEST(Arrivals, PoissonAndGammaFollowTheRateWithTheirVariability) {
  const Trace constant{"constant", {1.0}, 1};
  ArrivalOptions o;
  o.jobs = 40000;
  o.rate_per_s = 100;
  for (const auto& [process, cv] : std::vector<std::pair<std::string, double>>{
           {"poisson", 1.0}, {"gamma:2", 2.0}, {"gamma:0.5", 0.5}}) {
    o.process = process;
    const std::vector<double> t = arrival_times_ms(constant, o);
    ASSERT_EQ(t.size(), 40000u);
    EXPECT_TRUE(std::is_sorted(t.begin(), t.end()));
    std::vector<double> gaps;
    for (std::size_t i = 1; i < t.size(); ++i) gaps.push_back(t[i] - t[i - 1]);
    const double mean = mean_of(gaps);
    double var = 0;
    for (double g : gaps) var += (g - mean) * (g - mean);
    const double measured_cv = std::sqrt(var / static_cast<double>(gaps.size())) / mean;
    EXPECT_NEAR(mean, 10, 0.4) << process << ": 100 jobs/s";
    EXPECT_NEAR(measured_cv, cv, 0.08 * cv) << process;
  }
  // A trace whose second half is twice as busy gets twice the arrivals there.
  const Trace step{"step", {1, 1, 1, 1, 2, 2, 2, 2}, 1};
  o.process = "poisson";
  o.trace_num = 8;
  const std::vector<double> t = arrival_times_ms(step, o);
  const double half = 4 * arrival_interval_ms(o);
  const auto first_half = std::lower_bound(t.begin(), t.end(), half) - t.begin();
  EXPECT_NEAR(static_cast<double>(first_half) / 40000, 4.0 / 12, 0.01);
}

TEST(Arrivals, BadOptionsAreUsageErrors) {
  const Trace constant{"constant", {1.0}, 1};
  ArrivalOptions o;
  o.jobs = 10;
  o.rate_per_s = 0;
  EXPECT_THROW(arrival_times_ms(constant, o), UsageError);
  o.rate_per_s = 1;
  for (const char* bad : {"uniform", "gamma:", "gamma:0", "gamma:-1", "gamma:x"}) {
    o.process = bad;
    EXPECT_THROW(arrival_times_ms(constant, o), UsageError) << bad;
  }
}

TEST(Buckets, TenBinsPerModalityFromItsSmallestToItsLargestLatency) {
  Jobs jobs;
  jobs.length_ms = {10, 20, 11, 30, 12, 29, 15};
  jobs.bucket = {0, 1, 0, 1, 0, 1, 0};
  const std::vector<BucketBin> bins = bucket_bins(jobs, 3);  // modality 2 is empty: no rows
  ASSERT_EQ(bins.size(), 20u);
  EXPECT_EQ(bins[0].bucket_start, 10);
  EXPECT_EQ(bins[0].bucket_end, 15);
  EXPECT_EQ(bins[10].bucket_start, 20);
  EXPECT_EQ(bins[10].bucket_end, 30);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < bins.size(); ++i) {
    total += bins[i].count;
    if (i % 10 != 0) {
      EXPECT_EQ(bins[i].bin_start, bins[i - 1].bin_end);
    }
  }
  EXPECT_EQ(total, 7);
  EXPECT_EQ(bins[0].count, 1);   // 10
  EXPECT_EQ(bins[2].count, 1);   // 11 in [11, 11.5)
  EXPECT_EQ(bins[4].count, 1);   // 12
  EXPECT_EQ(bins[9].count, 1);   // 15: the last bin is closed
  EXPECT_EQ(bins[19].count, 2);  // 29 and 30
}

class TraceFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("repipe-trace-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(TraceFiles, AzureInvocationsAreReducedAsDynWorkDoes) {
  // 33 functions; function f is invoked f+1 times every minute: the busiest is the last.
  std::string text = "HashOwner,HashApp,HashFunction,Trigger";
  // Appended piece by piece: GCC 12 warns falsely on "," + std::to_string(...).
  for (int m = 1; m <= 1440; ++m) (text += ',') += std::to_string(m);
  text += "\n";
  for (int f = 0; f < 33; ++f) {
    text += "o,a,f" + std::to_string(f) + ",http";
    for (int m = 1; m <= 1440; ++m) (text += ',') += std::to_string(f + 1);
    text += "\n";
  }
  const Trace trace = load_trace("azure:" + write("invocations.csv", text), "");
  ASSERT_EQ(trace.count.size(), 400u);  // the first 400 minutes
  EXPECT_EQ(trace.period_s, 60);
  // Fewer than 1,500 functions: from the busiest on, 11 picks at step 33 / 11 = 3: totals
  // 33, 30, ..., 3 invocations per minute.
  EXPECT_EQ(trace.count[0], 33 + 30 + 27 + 24 + 21 + 18 + 15 + 12 + 9 + 6 + 3);
  EXPECT_EQ(trace.count[399], trace.count[0]);
}

TEST_F(TraceFiles, TimeCountCsvAndBadTracesAreClearErrors) {
  const Trace trace = load_trace(write("t.csv", "time,count\n0,5\n2,0\n4,7\n"), "");
  EXPECT_EQ(trace.count, (std::vector<double>{5, 0, 7}));
  EXPECT_EQ(trace.period_s, 2);
  auto message = [&](const std::string& source) {
    try {
      load_trace(source, "");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(write("empty.csv", "time,count\n")).find("an empty trace"), std::string::npos);
  EXPECT_NE(message(write("zero.csv", "time,count\n0,0\n1,0\n")).find("every count is 0"),
            std::string::npos);
  EXPECT_NE(message(write("header.csv", "t,count\n0,1\n")).find("header.csv:1"), std::string::npos);
  EXPECT_NE(message(write("neg.csv", "time,count\n0,1\n1,-2\n")).find("neg.csv:3"),
            std::string::npos);
  EXPECT_NE(message(write("back.csv", "time,count\n1,1\n0,2\n")).find("after the previous"),
            std::string::npos);
  EXPECT_NE(message((dir_ / "absent.csv").string()).find("absent.csv"), std::string::npos);
  EXPECT_NE(message("worldcap").find("expected worldcup, azure:FILE, FILE.csv or constant"),
            std::string::npos);
}

TEST(MeasuredSample, QuantilesInterpolateAsPandasAndOutliersGoColumnByColumn) {
  EXPECT_DOUBLE_EQ(quantile_of({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile_of({1, 2, 3, 4, 5}, 0.05), 1.2);
  EXPECT_DOUBLE_EQ(quantile_of({1, 2, 3, 4, 5}, 0.95), 4.8);
  std::vector<RequestSample> requests;
  for (int i = 0; i < 20; ++i) requests.push_back({10.0 + i % 5, 5.0 + i % 3, 1});
  requests.push_back({12, 500, 1});  // a latency far beyond Q3 + 5 IQR
  requests.push_back({400, 6, 1});   // an input length far beyond
  const std::vector<RequestSample> kept = without_outliers(requests);
  EXPECT_EQ(kept.size(), 20u);
  for (const RequestSample& r : kept) EXPECT_LT(r.latency_ms, 10);
}

}  // namespace
}  // namespace repipe
