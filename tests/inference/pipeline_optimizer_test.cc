// Tests of IPA's pipeline-configuration optimizer: a case solved by hand, the queueing term with
// the real batch, the fewest replicas, product accuracy beyond three stages, the three solvers
// agreeing on hundreds of random pipelines (infeasible ones included), the reasons given for
// infeasibility and the pipeline file's errors.
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "inference/pipeline_milp.h"
#include "inference/pipeline_optimizer.h"
#include "inference/pipeline_spec.h"

namespace repipe {
namespace {

ModelVariant variant(std::string name, double accuracy, double resources,
                     std::vector<BatchLatency> profile) {
  return {std::move(name), accuracy, resources, std::move(profile)};
}

// (Not "v" + std::to_string(v): GCC 12 warns falsely, -Wrestrict, on that at -O3.)
std::string numbered(const char* prefix, int n) {
  std::string name = prefix;
  name += std::to_string(n);
  return name;
}

OptimizerSettings settings(double rate, double sla_ms, ObjectiveWeights weights,
                           int max_replicas = 32) {
  return {rate, sla_ms, weights, max_replicas};
}

// The variant names and batches a configuration chose, "B@1 D@1", to compare at a glance.
std::string chosen(const PipelineProblem& problem, const PipelineConfiguration& c) {
  std::string text;
  for (std::size_t s = 0; s < c.stages.size(); ++s) {
    text += (s ? " " : "") + problem.spec.stages[s].variants[c.stages[s].variant].name + "@" +
            std::to_string(c.stages[s].batch);
  }
  return text;
}

using Solver = std::optional<PipelineConfiguration> (*)(const PipelineProblem&);
const std::vector<std::pair<const char*, Solver>> kSolvers = {
    {"brute", solve_brute_force}, {"fast", solve_fast}, {"milp", solve_milp}};

// Two stages, worked by hand. At 10 req/s:
//   detect   A@1: 100 ms, 1 replica (10*100/1000 = 1), 1 core, delay 100
//            A@2: 150 ms, 1 replica (0.75), queue (2-1)/10 s = 100 ms, delay 250
//            B@1: 200 ms, 2 replicas (2), 2 x 2 = 4 cores, delay 200
//   classify C@1: 50 ms, 1 replica (0.5), 1 core, delay 50
//            D@1: 100 ms, 1 replica (1), 1 core, delay 100
//            D@4: 200 ms, 1 replica (0.5), queue 300 ms, delay 500 (never fits 400 ms)
// Objective 10 * acc1 * acc2 - 0.1 * cores - 0.01 * batches:
//   A@1 C@1: 7.2 - 0.2 - 0.02 = 6.98 (150 ms)    A@1 D@1: 7.6 - 0.2 - 0.02 = 7.38 (200 ms)
//   A@2 C@1: 7.2 - 0.2 - 0.03 = 6.97 (300 ms)    A@2 D@1: 7.6 - 0.2 - 0.03 = 7.37 (350 ms)
//   B@1 C@1: 8.1 - 0.5 - 0.02 = 7.58 (250 ms)    B@1 D@1: 8.55 - 0.5 - 0.02 = 8.03 (300 ms)
// SLA 400 ms: B@1 D@1 (8.03). SLA 250 ms: B@1 C@1 (7.58, exactly at the SLA). One replica at
// most: B is out, A@1 D@1 (7.38). Sum: B@1 D@1, 10 * 1.85 - 0.52 = 17.98; mean: 9.25 - 0.52.
PipelineSpec hand_checked_pipeline(AccuracyMethod method) {
  PipelineSpec spec;
  spec.name = "hand";
  spec.accuracy_method = method;
  spec.stages = {
      {"detect", {variant("A", 0.8, 1, {{1, 100}, {2, 150}}), variant("B", 0.9, 2, {{1, 200}})}},
      {"classify", {variant("C", 0.9, 1, {{1, 50}}), variant("D", 0.95, 1, {{1, 100}, {4, 200}})}},
  };
  return spec;
}

TEST(PipelineOptimizer, HandCheckedCase) {
  const ObjectiveWeights weights{10, 0.1, 0.01};
  struct Case {
    AccuracyMethod method;
    double sla_ms;
    int max_replicas;
    std::string expected;
    double objective, latency_ms, resources;
  };
  const std::vector<Case> cases = {
      {AccuracyMethod::kProduct, 400, 32, "B@1 D@1", 8.03, 300, 5},
      {AccuracyMethod::kProduct, 250, 32, "B@1 C@1", 7.58, 250, 5},
      {AccuracyMethod::kProduct, 400, 1, "A@1 D@1", 7.38, 200, 2},
      {AccuracyMethod::kSum, 400, 32, "B@1 D@1", 17.98, 300, 5},
      {AccuracyMethod::kMean, 400, 32, "B@1 D@1", 8.73, 300, 5},
  };
  for (const Case& c : cases) {
    const PipelineProblem problem = make_pipeline_problem(
        hand_checked_pipeline(c.method), settings(10, c.sla_ms, weights, c.max_replicas));
    for (const auto& [name, solve] : kSolvers) {
      SCOPED_TRACE(std::string(name) + " " + accuracy_method_name(c.method) + " SLA " +
                   std::to_string(c.sla_ms));
      const std::optional<PipelineConfiguration> found = solve(problem);
      ASSERT_TRUE(found);
      EXPECT_EQ(chosen(problem, *found), c.expected);
      EXPECT_NEAR(found->objective, c.objective, 1e-12);
      EXPECT_DOUBLE_EQ(found->latency_ms, c.latency_ms);
      EXPECT_DOUBLE_EQ(found->resources, c.resources);
    }
  }
  // The parts of the best plan.
  const PipelineProblem problem = make_pipeline_problem(
      hand_checked_pipeline(AccuracyMethod::kProduct), settings(10, 400, weights));
  const PipelineConfiguration best = *solve_fast(problem);
  EXPECT_EQ(best.stages[0].replicas, 2);
  EXPECT_DOUBLE_EQ(best.stages[0].throughput_per_s, 10);
  EXPECT_DOUBLE_EQ(best.accuracy, 0.9 * 0.95);
  EXPECT_DOUBLE_EQ(best.accuracy_term, 8.55);
  EXPECT_DOUBLE_EQ(best.resource_term, 0.5);
  EXPECT_DOUBLE_EQ(best.batch_term, 0.02);
  EXPECT_EQ(best.batch_sum, 2);
  EXPECT_DOUBLE_EQ(best.throughput_per_s, 10);
}

// IPA's MILP fed the 0/1 batch indicator to (b - 1) / rate; here the real batch counts. One stage
// at 100 req/s: batch 1 takes 100 ms and needs 10 replicas; batch 8 takes 120 ms and needs 2
// (100 * 120 / 8000 = 1.5) but waits (8 - 1) / 100 s = 70 ms for its batch: 190 ms in all.
TEST(PipelineOptimizer, QueueingUsesTheRealBatch) {
  PipelineSpec spec;
  spec.name = "queue";
  spec.stages = {{"only", {variant("m", 0.9, 1, {{1, 100}, {8, 120}})}}};
  const ObjectiveWeights weights{1, 0.1, 0};
  for (const auto& [name, solve] : kSolvers) {
    SCOPED_TRACE(name);
    // 150 ms: batch 8's model latency fits, with its queueing it does not.
    const PipelineProblem tight = make_pipeline_problem(spec, settings(100, 150, weights));
    const std::optional<PipelineConfiguration> small = solve(tight);
    ASSERT_TRUE(small);
    EXPECT_EQ(small->stages[0].batch, 1);
    EXPECT_EQ(small->stages[0].replicas, 10);
    EXPECT_DOUBLE_EQ(small->queue_ms, 0);
    // 190 ms: batch 8 fits exactly and is cheaper.
    const PipelineProblem loose = make_pipeline_problem(spec, settings(100, 190, weights));
    const std::optional<PipelineConfiguration> large = solve(loose);
    ASSERT_TRUE(large);
    EXPECT_EQ(large->stages[0].batch, 8);
    EXPECT_EQ(large->stages[0].replicas, 2);
    EXPECT_DOUBLE_EQ(large->queue_ms, 70);
    EXPECT_DOUBLE_EQ(large->latency_ms, 190);
    // Just below it, nothing but batch 1.
    const PipelineProblem below = make_pipeline_problem(spec, settings(100, 189.9, weights));
    EXPECT_EQ(solve(below)->stages[0].batch, 1);
  }
}

TEST(PipelineOptimizer, FewestReplicasAreRoundedOnce) {
  EXPECT_EQ(min_replicas(10, 100, 1), 1);
  EXPECT_EQ(min_replicas(30, 100, 3), 1);  // 30 * 0.1 / 3 is a hair above 1 in doubles
  EXPECT_EQ(min_replicas(10.5, 100, 1), 2);
  EXPECT_EQ(min_replicas(0.1, 100, 8), 1);
  EXPECT_EQ(min_replicas(80, 75, 2), 3);
  EXPECT_EQ(min_replicas(1e300, 1e300, 1), std::numeric_limits<std::int64_t>::max());
}

// Six stages of a product: a stage's accuracy is worth more when the others' are high, which a
// sum cannot express. Each stage offers a cheap 0.8 (1 core) and a good 0.99 (4 cores); an
// upgrade costs 0.3 x 3 = 0.9. From all cheap, one upgrade gains 10 x 0.8^5 x 0.19 = 0.62 and
// loses (0.821 -> 0.544), two lose more (0.414), yet all six win: 10 x 0.99^6 - 0.3 x 24 =
// 2.215 (less 0.06 for the six batches). A search that stops at the first step down, or a product
// cut at three stages, misses it.
TEST(PipelineOptimizer, ProductAccuracyIsExactBeyondThreeStages) {
  PipelineSpec spec;
  spec.name = "six";
  spec.accuracy_method = AccuracyMethod::kProduct;
  for (int s = 0; s < 6; ++s) {
    spec.stages.push_back({numbered("s", s),
                           {variant("cheap", 0.8, 1, {{1, 10}, {2, 15}}),
                            variant("good", 0.99, 4, {{1, 10}, {2, 15}})}});
  }
  const PipelineProblem problem = make_pipeline_problem(spec, settings(50, 1000, {10, 0.3, 0.01}));
  for (const auto& [name, solve] : kSolvers) {
    SCOPED_TRACE(name);
    const std::optional<PipelineConfiguration> found = solve(problem);
    ASSERT_TRUE(found);
    EXPECT_EQ(chosen(problem, *found), "good@1 good@1 good@1 good@1 good@1 good@1");
    EXPECT_NEAR(found->accuracy, std::pow(0.99, 6), 1e-15);
    EXPECT_NEAR(found->objective, 10 * std::pow(0.99, 6) - 0.3 * 24 - 0.01 * 6, 1e-12);
  }
}

// ---- Random pipelines ---------------------------------------------------------------------------

// A random pipeline in the spirit of IPA's profiles: latency grows with the batch less than
// linearly, accuracy and cost rise together. Latencies are whole milliseconds and some variants
// repeat under another name, so ties happen.
PipelineSpec random_pipeline(std::mt19937_64& rng, int stages, int most_variants,
                             AccuracyMethod method) {
  std::uniform_real_distribution<double> unit(0, 1);
  std::uniform_int_distribution<int> variants_of(1, most_variants);
  const std::vector<int> all_batches = {1, 2, 4, 8};
  PipelineSpec spec;
  spec.name = "random";
  spec.accuracy_method = method;
  for (int s = 0; s < stages; ++s) {
    PipelineStage& stage = spec.stages.emplace_back();
    stage.name = numbered("s", s);
    const int variants = variants_of(rng);
    for (int v = 0; v < variants; ++v) {
      if (v > 0 && unit(rng) < 0.2) {  // a twin of the previous variant
        ModelVariant twin = stage.variants.back();
        twin.name += "-twin";
        stage.variants.push_back(twin);
        continue;
      }
      ModelVariant& m = stage.variants.emplace_back();
      m.name = numbered("v", v);
      m.accuracy = std::round((0.3 + 0.7 * unit(rng)) * 1000) / 1000;
      m.resources_per_replica = std::vector<double>{0.5, 1, 2, 4}[rng() % 4];
      const double base_ms = std::round(5 + 195 * unit(rng));
      for (int batch : all_batches) {
        if (batch > 1 && unit(rng) < 0.3) continue;
        m.profile.push_back(
            {batch, std::round(base_ms * (0.5 + 0.5 * batch) * (0.6 + 0.4 * unit(rng)))});
      }
    }
  }
  return spec;
}

// The problem for a random pipeline: the SLA drawn around the fastest end-to-end latency, so
// about a quarter of the pipelines miss it; a few replica caps make stages fall short of the rate.
PipelineProblem random_problem(std::mt19937_64& rng, const PipelineSpec& spec) {
  std::uniform_real_distribution<double> unit(0, 1);
  OptimizerSettings s;
  s.rate_per_s = std::round(1 + 99 * unit(rng));
  s.max_replicas = std::vector<int>{2, 4, 8, 32, 32, 32}[rng() % 6];
  s.weights = {0.5 + 10 * unit(rng), unit(rng) < 0.2 ? 0 : 0.2 * unit(rng),
               unit(rng) < 0.3 ? 0 : 0.02 * unit(rng)};
  s.sla_ms = 1;
  PipelineProblem problem = make_pipeline_problem(spec, s);
  double fastest = 0;
  for (const auto& options : problem.options) {
    double least = 1e9;
    for (const StageOption& o : options) least = std::min(least, o.delay_ms());
    fastest += options.empty() ? 100 : least;
  }
  // Sometimes exactly the fastest latency: the boundary must count as met.
  s.sla_ms = unit(rng) < 0.1 ? fastest : fastest * (0.75 + 2 * unit(rng));
  return make_pipeline_problem(spec, s);
}

// Brute force is the reference when `brute_force` (small pipelines), else the MILP is.
void expect_solvers_agree(AccuracyMethod method, int instances, int least_stages, int most_stages,
                          int most_variants, std::uint64_t seed, bool brute_force = true) {
  std::mt19937_64 rng(seed);
  int feasible = 0, too_slow = 0, over_sla = 0;
  for (int i = 0; i < instances; ++i) {
    const int stages = least_stages + static_cast<int>(rng() % (most_stages - least_stages + 1));
    const PipelineProblem problem =
        random_problem(rng, random_pipeline(rng, stages, most_variants, method));
    SCOPED_TRACE("instance " + std::to_string(i) + ", " + std::to_string(stages) + " stages, " +
                 accuracy_method_name(method));
    const std::optional<PipelineConfiguration> milp = solve_milp(problem);
    const std::optional<PipelineConfiguration> brute =
        brute_force ? solve_brute_force(problem) : milp;
    const std::optional<PipelineConfiguration> fast = solve_fast(problem);
    ASSERT_EQ(brute.has_value(), fast.has_value());
    ASSERT_EQ(brute.has_value(), milp.has_value());
    if (!brute) {
      const std::string reason = infeasibility_reason(problem);
      (reason.rfind("stage '", 0) == 0 ? too_slow : over_sla) += 1;
      EXPECT_TRUE(reason.rfind("stage '", 0) == 0 || reason.rfind("SLA ", 0) == 0) << reason;
      continue;
    }
    ++feasible;
    // The same optimum, and the same configuration among ties (integer latencies and twin
    // variants make many): the fast search bit for bit, the MILP after its tie-breaking solves.
    EXPECT_EQ(fast->choice, brute->choice);
    EXPECT_EQ(fast->objective, brute->objective);
    const double scale = std::max(1.0, std::abs(brute->objective));
    EXPECT_NEAR(milp->objective, brute->objective, 1e-9 * scale);
    EXPECT_EQ(milp->choice, brute->choice);
    for (const PipelineConfiguration* c : {&*brute, &*milp}) {
      EXPECT_TRUE(meets_sla(problem, c->latency_ms));
      for (const StageOption& stage : c->stages) {
        EXPECT_GE(stage.throughput_per_s, problem.settings.rate_per_s * (1 - 1e-9));
        EXPECT_LE(stage.replicas, problem.settings.max_replicas);
      }
    }
  }
  // Every outcome is exercised in numbers.
  EXPECT_GE(feasible, instances / 3);
  EXPECT_GE(too_slow, instances / 40);
  EXPECT_GE(over_sla, instances / 40);
}

TEST(PipelineOptimizer, SolversAgreeOnRandomPipelinesWithProductAccuracy) {
  expect_solvers_agree(AccuracyMethod::kProduct, 300, 1, 4, 4, 1);
}

TEST(PipelineOptimizer, SolversAgreeOnRandomPipelinesWithSumAccuracy) {
  expect_solvers_agree(AccuracyMethod::kSum, 300, 1, 4, 4, 2);
}

TEST(PipelineOptimizer, SolversAgreeOnRandomPipelinesWithMeanAccuracy) {
  expect_solvers_agree(AccuracyMethod::kMean, 300, 1, 4, 4, 3);
}

TEST(PipelineOptimizer, SolversAgreeOnLongerRandomProducts) {
  expect_solvers_agree(AccuracyMethod::kProduct, 40, 5, 7, 2, 4);
}

// Beyond brute force's reach: the fast search against the MILP, configuration for configuration.
TEST(PipelineOptimizer, FastSearchAgreesWithTheMilpOnLargerPipelines) {
  expect_solvers_agree(AccuracyMethod::kProduct, 30, 6, 8, 6, 5, /*brute_force=*/false);
  expect_solvers_agree(AccuracyMethod::kSum, 30, 6, 8, 6, 6, /*brute_force=*/false);
}

// Twins tie on everything: the first in the file wins, in every stage, for every solver.
TEST(PipelineOptimizer, TiesGoToTheFirstOptionInFileOrder) {
  PipelineSpec spec;
  spec.name = "twins";
  spec.accuracy_method = AccuracyMethod::kSum;
  for (int s = 0; s < 3; ++s) {
    spec.stages.push_back({numbered("s", s),
                           {variant("worse", 0.5, 1, {{1, 10}}), variant("a", 0.9, 1, {{1, 10}}),
                            variant("b", 0.9, 1, {{1, 10}})}});
  }
  const PipelineProblem problem = make_pipeline_problem(spec, settings(10, 100, {1, 0.1, 0}));
  EXPECT_EQ(chosen(problem, *solve_brute_force(problem)), "a@1 a@1 a@1");
  EXPECT_EQ(chosen(problem, *solve_fast(problem)), "a@1 a@1 a@1");
  EXPECT_EQ(chosen(problem, *solve_milp(problem)), "a@1 a@1 a@1");
  EXPECT_NEAR(solve_milp(problem)->objective, 2.7 - 0.3, 1e-12);
}

// ---- Infeasible problems ------------------------------------------------------------------------

TEST(PipelineOptimizer, NamesTheStageThatCannotKeepUp) {
  const PipelineProblem problem = make_pipeline_problem(
      hand_checked_pipeline(AccuracyMethod::kProduct), settings(200, 1000, {1, 0, 0}, 4));
  // detect: A@2 serves 2 / 0.15 s = 13.33 req/s a replica, 53.3 with 4 < 200.
  for (const auto& [name, solve] : kSolvers) EXPECT_FALSE(solve(problem)) << name;
  EXPECT_EQ(infeasibility_reason(problem),
            "stage 'detect': no variant reaches 200 req/s with at most 4 replicas (the fastest, A "
            "at batch 2, serves 13.33 req/s per replica, 53.33 req/s with 4)");
}

TEST(PipelineOptimizer, NamesTheFastestLatencyAboveTheSla) {
  // Fastest: A@1 (100 ms) then C@1 (50 ms) = 150 ms.
  const PipelineProblem problem = make_pipeline_problem(hand_checked_pipeline(AccuracyMethod::kSum),
                                                        settings(10, 149.5, {1, 0, 0}));
  for (const auto& [name, solve] : kSolvers) EXPECT_FALSE(solve(problem)) << name;
  const std::string reason = infeasibility_reason(problem);
  EXPECT_EQ(
      reason.rfind("SLA 149.5 ms is below the fastest end-to-end latency 150.0 ms at 10 req/s", 0),
      0u)
      << reason;
  EXPECT_NE(reason.find("detect 100.0 ms, classify 50.0 ms"), std::string::npos) << reason;
  // At exactly 150 ms it fits.
  const PipelineProblem exact = make_pipeline_problem(hand_checked_pipeline(AccuracyMethod::kSum),
                                                      settings(10, 150, {1, 0, 0}));
  for (const auto& [name, solve] : kSolvers) EXPECT_TRUE(solve(exact)) << name;
}

// ---- The pipeline file --------------------------------------------------------------------------

const char* kGoodPipeline = R"(version = 1
name = "tiny"
accuracy_method = "sum"
alpha = 2
beta = 0.5
[[stages]]
name = "detect"
[[stages.variants]]
name = "small"
accuracy = 0.5
resources = 1
batches = [1, 2]
latency_ms = [10, 15.5]
)";

TEST(PipelineSpec, ReadsAPipeline) {
  const PipelineSpec spec = parse_pipeline_spec(kGoodPipeline, "tiny.toml");
  EXPECT_EQ(spec.name, "tiny");
  EXPECT_EQ(spec.accuracy_method, AccuracyMethod::kSum);
  EXPECT_EQ(spec.alpha, 2.0);
  EXPECT_EQ(spec.beta, 0.5);
  EXPECT_FALSE(spec.gamma);
  EXPECT_EQ(spec.max_replicas, 32);
  ASSERT_EQ(spec.stages.size(), 1u);
  ASSERT_EQ(spec.stages[0].variants.size(), 1u);
  const ModelVariant& v = spec.stages[0].variants[0];
  EXPECT_EQ(v.name, "small");
  ASSERT_EQ(v.profile.size(), 2u);
  EXPECT_EQ(v.profile[1].batch, 2);
  EXPECT_EQ(v.profile[1].latency_ms, 15.5);
}

std::string error_of(const std::string& text) {
  try {
    parse_pipeline_spec(text, "p.toml");
  } catch (const UsageError& error) {
    return error.what();
  }
  return "no error";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(PipelineSpec, BadInputNamesTheLineTheKeyAndWhatWasExpected) {
  const std::string good = kGoodPipeline;
  EXPECT_EQ(error_of(replaced(good, "accuracy = 0.5", "accuracy = 76.1")),
            "p.toml:10: stages[0].variants[0].accuracy: expected a fraction in (0, 1] (0.761, not "
            "76.1 percent), got 76.1");
  EXPECT_EQ(error_of(replaced(good, "[10, 15.5]", "[10, -15.5]")),
            "p.toml:13: stages[0].variants[0].latency_ms[1]: expected a latency in ms > 0, got "
            "-15.5");
  EXPECT_EQ(error_of(replaced(good, "[10, 15.5]", "[10]")),
            "p.toml:13: stages[0].variants[0].latency_ms: expected one latency per batch size (2), "
            "got 1");
  EXPECT_EQ(error_of(replaced(good, "[1, 2]", "[2, 1]")),
            "p.toml:12: stages[0].variants[0].batches[1]: expected batch sizes in increasing order "
            "without repeats, got 1 after 2");
  EXPECT_EQ(error_of(replaced(good, "resources = 1\n", "")),
            "p.toml:8: stages[0].variants[0].resources: expected a number (the key is missing)");
  EXPECT_EQ(error_of(replaced(good, "beta = 0.5", "beta = -1")),
            "p.toml:5: beta: expected a finite weight >= 0, got -1");
  EXPECT_EQ(error_of(replaced(good, "\"sum\"", "\"max\"")),
            "p.toml:3: accuracy_method: expected product, sum or mean, got 'max'");
  EXPECT_EQ(error_of(replaced(good, "name = \"detect\"", "nme = \"detect\"")),
            "p.toml:7: stages[0].nme: unknown key (expected one of name, variants)");
  EXPECT_EQ(error_of(replaced(good, "version = 1", "version = 2")),
            "p.toml:1: version: pipeline format version 2 is not supported; this repipe reads "
            "version 1");
  EXPECT_EQ(error_of(replaced(good, "[1, 2]", "[1, \"2\"]")),
            "p.toml:12: stages[0].variants[0].batches[1]: expected a list of integer batch sizes, "
            "got a string");
  EXPECT_NE(
      error_of(replaced(good, "latency_ms = [", "latency_ms = ")).find("p.toml:13: not valid TOML"),
      std::string::npos);
  EXPECT_EQ(error_of(good + "[[stages]]\nname = \"detect\"\n"),
            "p.toml:14: stages[1].variants: expected at least 1 [[stages.variants]] table (the key "
            "is missing)");
}

TEST(PipelineSpec, CodeBuiltSpecsAreCheckedToo) {
  PipelineSpec spec = hand_checked_pipeline(AccuracyMethod::kSum);
  spec.stages[1].variants[1].name = "C";
  EXPECT_THROW(make_pipeline_problem(spec, settings(10, 100, {1, 0, 0})), UsageError);
}

}  // namespace
}  // namespace repipe
