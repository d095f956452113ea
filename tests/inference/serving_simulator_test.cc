// Tests of the serving simulator on cases small enough to follow by hand: batching and padding,
// deadlines (late and dropped), interference from busy co-runners, the share accounting,
// dispatch by planned rate, a re-allocation on a rate change, and the trace-shaped arrivals.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

#include "common/error.h"
#include "inference/interference_model.h"
#include "inference/model_repository.h"
#include "inference/serving_requests.h"
#include "inference/serving_simulator.h"

namespace repipe {
namespace {

// A model with batch sizes 1 and 2 at shares 10..100: a batch of 1 takes `ms_b1` at full share
// and a batch of 2 takes 1.6x that; at share s, 100/s times as long.
ModelEntry model(const std::string& name, double ms_b1, double slo_ms) {
  ModelEntry entry;
  entry.config.name = name;
  entry.config.task = "classification";
  entry.config.batch_sizes = {1, 2};
  entry.config.input_shape = {4};
  entry.config.output_shape = {2};
  entry.config.slo_ms = slo_ms;
  entry.config.features = {{1, 100, 10}, {2, 150, 15}};
  std::vector<RuntimePoint> points;
  for (int b : {1, 2}) {
    for (int share = 10; share <= 100; share += 10)
      points.push_back({b, share, ms_b1 * (b == 1 ? 1.0 : 1.6) * 100.0 / share});
  }
  entry.runtime = RuntimeProfile(points);
  return entry;
}

Placement placement(int gpu, int share, int batch, double rate) {
  Placement p;
  p.gpu = gpu;
  p.share = share;
  p.batch_size = batch;
  p.rate_per_s = rate;
  return p;
}

Allocation plan_of(int gpus, std::vector<ModelAllocation> models) {
  Allocation plan;
  plan.policy = "deinfer";
  plan.gpus = gpus;
  plan.models = std::move(models);
  return plan;
}

// Interference of a fixed number of points whenever a co-runner is busy.
class FixedInterference : public InterferenceModel {
 public:
  explicit FixedInterference(double points) : points_(points) {}
  double interference_points(const Tenant&, const std::vector<Tenant>& corunners) const override {
    return corunners.empty() ? 0 : points_;
  }
  std::string describe() const override { return "fixed"; }

 private:
  double points_;
};

class ServingSimulatorTest : public ::testing::Test {
 protected:
  ModelRepository repository_;
  NoInterference none_;
};

TEST_F(ServingSimulatorTest, BatchesWhatIsQueuedAndPadsToAProfiledBatch) {
  repository_.add(model("a", 10, 100));
  // Share 50: a batch of 1 takes 20 ms, of 2 takes 32 ms.
  const Allocation plan = plan_of(1, {{"a", 10, 100, {placement(0, 50, 2, 10)}}});
  // t = 0: alone, runs as a batch of 1 until 20 ms. 1 and 2 ms: queued, run together from 20 to
  // 52 ms (latencies 51 and 50 ms). 500 ms: alone again, 20 ms.
  const SimulationReport r =
      simulate_serving(repository_, plan, {{0, 0}, {0.001, 0}, {0.002, 0}, {0.5, 0}}, none_, none_);
  const ModelServingStats& a = r.models.at(0);
  EXPECT_EQ(a.requests, 4);
  EXPECT_EQ(a.served, 4);
  EXPECT_EQ(a.missed(), 0);
  EXPECT_NEAR(a.p50_ms, 20, 1e-9);  // nearest rank: the 2nd of 20, 20, 50, 51
  EXPECT_NEAR(a.p99_ms, 51, 1e-9);
  EXPECT_NEAR(a.mean_batch, 4.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.duration_s, 0.52, 1e-12);
  ASSERT_EQ(r.gpus.size(), 1u);
  EXPECT_NEAR(r.gpus[0].allocated_percent, 50, 1e-9);
  // Busy 20 + 32 + 20 ms at share 50 over 520 ms.
  EXPECT_NEAR(r.gpus[0].busy_percent, 50 * 0.072 / 0.52, 1e-9);
  EXPECT_EQ(r.total.requests, 4);
}

TEST_F(ServingSimulatorTest, LateAndExpiredRequestsAreMisses) {
  repository_.add(model("a", 10, 15));
  const Allocation plan = plan_of(1, {{"a", 10, 15, {placement(0, 50, 2, 10)}}});
  // The first finishes at 20 ms, past its 15 ms deadline (late); the other two expired at 16 and
  // 17 ms, before the server was free at 20 ms (dropped, never run).
  const SimulationReport r =
      simulate_serving(repository_, plan, {{0, 0}, {0.001, 0}, {0.002, 0}}, none_, none_);
  const ModelServingStats& a = r.models.at(0);
  EXPECT_EQ(a.served, 1);
  EXPECT_EQ(a.late, 1);
  EXPECT_EQ(a.dropped, 2);
  EXPECT_DOUBLE_EQ(a.miss_rate(), 1.0);
  ASSERT_FALSE(r.periods.empty());
  EXPECT_EQ(r.periods[0].arrivals, 3);
  EXPECT_EQ(r.periods[0].missed, 3);
}

TEST_F(ServingSimulatorTest, ABatchIsSlowedByTheCorunnersBusyWhenItStarts) {
  repository_.add(model("a", 10, 100));
  repository_.add(model("b", 4, 100));
  const Allocation plan = plan_of(
      1, {{"a", 10, 100, {placement(0, 50, 1, 10)}}, {"b", 10, 100, {placement(0, 50, 1, 10)}}});
  const FixedInterference quarter(25);
  // a starts alone at 0 (20 ms); b starts at 1 ms while a runs: 8 ms x 1.25 = 10 ms. At 100 ms b
  // runs alone again: 8 ms.
  const SimulationReport r =
      simulate_serving(repository_, plan, {{0, 0}, {0.001, 1}, {0.1, 1}}, quarter, none_);
  EXPECT_NEAR(r.models[0].max_ms, 20, 1e-9);
  EXPECT_NEAR(r.models[1].max_ms, 10, 1e-9);
  EXPECT_NEAR(r.models[1].p50_ms, 8, 1e-9);
}

TEST_F(ServingSimulatorTest, RequestsAreSplitByThePlannedRates) {
  repository_.add(model("a", 1, 1000));
  const Allocation plan =
      plan_of(2, {{"a", 40, 1000, {placement(0, 50, 1, 30), placement(1, 50, 1, 10)}}});
  std::vector<ServingRequest> requests;
  for (int i = 0; i < 400; ++i) requests.push_back({i * 0.025, 0});  // 40/s, never queued
  const SimulationReport r = simulate_serving(repository_, plan, requests, none_, none_);
  // Each request keeps a server busy 2 ms: busy share-seconds split 3:1 between the GPUs.
  EXPECT_NEAR(r.gpus[0].busy_percent / r.gpus[1].busy_percent, 3.0, 1e-9);
  EXPECT_EQ(r.models[0].missed(), 0);
}

TEST_F(ServingSimulatorTest, ARateJumpIsDetectedAndTheModelIsReplaced) {
  repository_.add(model("a", 10, 100));
  const Allocation plan = plan_of(1, {{"a", 10, 100, {placement(0, 20, 1, 10)}}});
  // 10/s for 10 s, then 60/s for 10 s, evenly spaced.
  std::vector<ServingRequest> requests;
  for (int i = 0; i < 100; ++i) requests.push_back({i * 0.1, 0});
  for (int i = 0; i < 600; ++i) requests.push_back({10 + i / 60.0, 0});
  SimulatorOptions options;
  options.cusum.threshold = 20;
  const NoInterference none;
  const SimulationReport r = simulate_serving(repository_, plan, requests, none, none, options);
  ASSERT_FALSE(r.reallocations.empty());
  const Reallocation& first = r.reallocations.front();
  EXPECT_GE(first.time_s, 10);
  EXPECT_LE(first.time_s, 12);
  EXPECT_EQ(first.model, "a");
  EXPECT_DOUBLE_EQ(first.old_rate_per_s, 10);
  EXPECT_GT(first.new_rate_per_s, 10);
  EXPECT_EQ(first.action, "re-placed");
  // The model holds a larger share after the jump than before it.
  EXPECT_EQ(r.periods.front().share_percent, 20);
  EXPECT_GT(r.periods.back().share_percent, 20);

  // Without re-allocation the same requests keep the plan's share.
  options.reallocate = false;
  const SimulationReport fixed = simulate_serving(repository_, plan, requests, none, none, options);
  EXPECT_TRUE(fixed.reallocations.empty());
  EXPECT_EQ(fixed.periods.back().share_percent, 20);
}

TEST_F(ServingSimulatorTest, BadRequestsAreUsageErrors) {
  repository_.add(model("a", 10, 100));
  const Allocation plan = plan_of(1, {{"a", 10, 100, {placement(0, 50, 2, 10)}}});
  EXPECT_THROW(simulate_serving(repository_, plan, {{0, 1}}, none_, none_), UsageError);
  EXPECT_THROW(simulate_serving(repository_, plan, {{-1, 0}}, none_, none_), UsageError);
}

TEST(ServingRequestsTest, TraceShapedArrivalsFollowTheShapeAtThePlannedMeanRate) {
  Trace trace;
  trace.name = "two-level";
  trace.count = {10, 10, 30, 30};  // low, then three times as high
  const std::vector<double> shape = trace_shape(trace, 2);
  ASSERT_EQ(shape.size(), 2u);
  EXPECT_DOUBLE_EQ(shape[0], 0.5);
  EXPECT_DOUBLE_EQ(shape[1], 1.5);
  // Shapes of pieces that cut trace points: 4 points into 3 pieces, areas kept.
  const std::vector<double> thirds = trace_shape(trace, 3);
  EXPECT_NEAR(std::accumulate(thirds.begin(), thirds.end(), 0.0), 3.0, 1e-12);
  // Piece 1 covers [4/3, 8/3): two thirds of the 10 and two thirds of the 30; the mean is 20.
  EXPECT_NEAR(thirds[1], (10.0 * 2 / 3 + 30.0 * 2 / 3) / (4.0 / 3) / 20, 1e-12);

  const std::vector<ServingRequest> requests = requests_from_trace(trace, {100, 10}, 200, 100, 7);
  std::int64_t first_half = 0, second_half = 0, other = 0;
  for (const ServingRequest& r : requests) {
    if (r.model == 1) {
      ++other;
    } else if (r.arrival_s < 100) {
      ++first_half;
    } else {
      ++second_half;
    }
  }
  // Model 0: 50/s then 150/s over 100 s each (Poisson: within 5 sigma).
  EXPECT_NEAR(static_cast<double>(first_half), 5000, 5 * std::sqrt(5000.0));
  EXPECT_NEAR(static_cast<double>(second_half), 15000, 5 * std::sqrt(15000.0));
  EXPECT_NEAR(static_cast<double>(other), 2000, 5 * std::sqrt(2000.0));
  EXPECT_TRUE(std::is_sorted(requests.begin(), requests.end(), [](const auto& a, const auto& b) {
    return a.arrival_s < b.arrival_s;
  }));
  // The same seed, the same arrivals.
  const std::vector<ServingRequest> again = requests_from_trace(trace, {100, 10}, 200, 100, 7);
  ASSERT_EQ(again.size(), requests.size());
  EXPECT_DOUBLE_EQ(again.back().arrival_s, requests.back().arrival_s);
  EXPECT_THROW(requests_from_trace(trace, {100}, 0, 1, 7), UsageError);
}

}  // namespace
}  // namespace repipe
