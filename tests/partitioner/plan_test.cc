// Tests of the plan file: round trips, errors that name file:line and field, validation against a
// model and a world, and the exact optimality of the default byte-balanced plan.
#include "partitioner/plan.h"

#include <bit>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

// The format as documented, one key a line so the tests can name lines.
constexpr const char* kValid = R"(version = 1
model = "mlp"
schedule = "1f1b-flush"
microbatches = 4
microbatch_size = 8
[[stages]]
first_block = 0
last_block = 1
ranks = [0]
[[stages]]
first_block = 2
last_block = 7
ranks = [1, 2]
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// The plan kValid describes: model "mlp" with 8 blocks on a world of 3 ranks.
Plan two_stage_plan() {
  Plan plan;
  plan.model = "mlp";
  plan.microbatches = 4;
  plan.microbatch_size = 8;
  plan.stages = {{0, 1, {0}}, {2, 7, {1, 2}}};
  return plan;
}

std::string validation_error(const Plan& plan, const std::string& model = "mlp",
                             std::int64_t blocks = 8, int world = 3) {
  try {
    validate_plan(plan, model, blocks, world, "plan.toml");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("repipe_plan_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + info->test_suite_name() + "_" + info->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& text) {
    std::filesystem::path path = dir_ / "plan.toml";
    std::ofstream(path) << text;
    return path.string();
  }
  // The UsageError message of loading `text`, or "" when it loads.
  std::string load_error(const std::string& text) {
    try {
      load_plan(write(text));
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  }

  std::filesystem::path dir_;
};

TEST_F(PlanTest, LoadsTheDocumentedFormat) {
  Plan plan =
      load_plan(write(std::string(kValid) + "[prediction]\nstep_time_ms = 12.5\nbottleneck_ms = 3\n"
                                            "bubble_fraction = 0.2\n"));
  Plan expected = two_stage_plan();
  expected.prediction = PlanPrediction{12.5, 3.0, 0.2};
  EXPECT_EQ(plan, expected);
  EXPECT_EQ(plan.world_size(), 3);
  EXPECT_EQ(plan.stage_of_rank(0), 0);
  EXPECT_EQ(plan.stage_of_rank(2), 1);
  EXPECT_EQ(plan.stage_of_rank(3), -1);
  EXPECT_EQ(plan.num_blocks(), 8);
}

TEST_F(PlanTest, RoundTripsWithPrediction) {
  Plan plan = two_stage_plan();
  plan.schedule = "gpipe";
  // Doubles whose naive printing loses bits, and whole numbers that must stay floats.
  plan.prediction = PlanPrediction{0.1 + 0.2, 1.0 / 3.0, 0.0};
  std::string path = (dir_ / "out" / "plan.toml").string();
  save_plan(plan, path);
  EXPECT_EQ(load_plan(path), plan);
  plan.prediction = PlanPrediction{1e-7, 2.0, 1.0};
  save_plan(plan, path);  // over an existing file
  EXPECT_EQ(load_plan(path), plan);
}

TEST_F(PlanTest, RoundTripsWithoutPrediction) {
  Plan plan = two_stage_plan();
  std::string path = (dir_ / "plan.toml").string();
  save_plan(plan, path);
  Plan loaded = load_plan(path);
  EXPECT_FALSE(loaded.prediction.has_value());
  EXPECT_EQ(loaded, plan);
  // The file explains itself.
  std::string text = plan_to_toml(plan);
  EXPECT_NE(text.find("# One [[stages]] table per stage"), std::string::npos) << text;
  EXPECT_EQ(text.find("[prediction]"), std::string::npos) << text;
}

struct LoadCase {
  const char* what;
  std::string text;
  std::string expected;  // a substring of the message, starting with "plan.toml:LINE: FIELD"
};

TEST_F(PlanTest, LoadErrorsNameFileLineAndField) {
  const std::string valid = kValid;
  const std::vector<LoadCase> cases = {
      {"unknown top-level key", replaced(valid, "microbatches = 4", "micro_batches = 4"),
       "plan.toml:4: micro_batches: unknown key (expected one of version, model"},
      {"unknown stage key", replaced(valid, "ranks = [1, 2]", "ranks = [1, 2]\nreplicas = 2"),
       "plan.toml:14: stages[1].replicas: unknown key (expected one of first_block"},
      {"wrong type", replaced(valid, "microbatches = 4", "microbatches = \"4\""),
       "plan.toml:4: microbatches: expected an integer, got a string"},
      {"float block", replaced(valid, "last_block = 7", "last_block = 7.0"),
       "plan.toml:12: stages[1].last_block: expected an integer, got a float"},
      {"missing stages", valid.substr(0, valid.find("[[stages]]")),
       "plan.toml:1: stages: expected at least 1 [[stages]] table (the key is missing)"},
      {"missing ranks", replaced(valid, "ranks = [0]\n", ""),
       "plan.toml:6: stages[0].ranks: expected a list of integer ranks (the key is missing)"},
      {"first_block > last_block", replaced(valid, "last_block = 7", "last_block = 1"),
       "plan.toml:12: stages[1].last_block: expected an integer >= first_block = 2"},
      {"version 2", replaced(valid, "version = 1", "version = 2\nnew_key = 1"),
       "plan.toml:1: version: plan format version 2 is not supported; this repipe reads version "
       "1"},
      {"ranks not a list", replaced(valid, "ranks = [0]", "ranks = 0"),
       "plan.toml:9: stages[0].ranks: expected a list of integer ranks, got an integer"},
      {"ranks of strings", replaced(valid, "ranks = [1, 2]", "ranks = [1,\n  \"2\"]"),
       "plan.toml:14: stages[1].ranks[1]: expected a list of integer ranks, got a string"},
      {"empty ranks", replaced(valid, "ranks = [0]", "ranks = []"),
       "plan.toml:9: stages[0].ranks: expected at least one rank"},
      {"negative rank", replaced(valid, "ranks = [0]", "ranks = [-1]"),
       "plan.toml:9: stages[0].ranks[0]: expected a rank in [0, "},
      {"gap", replaced(valid, "first_block = 2", "first_block = 3"),
       "plan.toml:11: stages[1].first_block: expected 2 (right after stages[0].last_block; "
       "blocks 2..2 are in no stage), got 3"},
      {"rank twice", replaced(valid, "ranks = [1, 2]", "ranks = [1, 0]"),
       "plan.toml:13: stages[1].ranks: rank 0 is already in stages[0].ranks"},
      {"zero microbatches", replaced(valid, "microbatches = 4", "microbatches = 0"),
       "plan.toml:4: microbatches: expected a positive integer, got 0"},
      {"bubble above 1",
       valid + "[prediction]\nstep_time_ms = 1\nbottleneck_ms = 1\n"
               "bubble_fraction = 1.5\n",
       "plan.toml:17: prediction.bubble_fraction: expected a finite number in [0, 1], got 1.5"},
      {"not TOML", replaced(valid, "model = \"mlp\"", "model = mlp"),
       "plan.toml:2: not valid TOML"},
  };
  for (const LoadCase& c : cases) {
    std::string error = load_error(c.text);
    EXPECT_NE(error.find(c.expected), std::string::npos)
        << c.what << "\n  message:  " << error << "\n  expected: " << c.expected;
    EXPECT_EQ(error.find((dir_ / "plan.toml").string()), 0u) << c.what << ": " << error;
  }
}

TEST_F(PlanTest, MissingFileIsAUsageError) {
  std::string path = (dir_ / "absent.toml").string();
  try {
    load_plan(path);
    FAIL() << "loaded a missing file";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": plan file not found");
  }
}

TEST(ValidatePlan, AcceptsAPlanThatFitsModelAndWorld) {
  EXPECT_EQ(validation_error(two_stage_plan()), "");
}

TEST(ValidatePlan, ErrorsNameWhereAndField) {
  Plan plan = two_stage_plan();
  plan.stages[1].first_block = 3;
  EXPECT_EQ(validation_error(plan),
            "plan.toml: stages[1].first_block: expected 2 (right after stages[0].last_block; "
            "blocks 2..2 are in no stage), got 3");

  plan = two_stage_plan();
  plan.stages[1].first_block = 1;
  EXPECT_EQ(validation_error(plan),
            "plan.toml: stages[1].first_block: expected 2 (right after stages[0].last_block; "
            "blocks 1..1 are in two stages), got 1");

  plan = two_stage_plan();
  plan.stages[0].first_block = 1;
  EXPECT_EQ(validation_error(plan),
            "plan.toml: stages[0].first_block: expected 0 (the first stage starts at block 0), "
            "got 1");

  plan = two_stage_plan();
  plan.stages[1].last_block = 6;
  EXPECT_EQ(validation_error(plan),
            "plan.toml: stages[1].last_block: expected 7 (model 'mlp' has 8 blocks; blocks 7..7 "
            "are in no stage), got 6");

  plan = two_stage_plan();
  plan.stages[1].last_block = 8;
  EXPECT_EQ(
      validation_error(plan),
      "plan.toml: stages[1].last_block: expected at most 7 (model 'mlp' has 8 blocks), got 8");

  plan = two_stage_plan();
  plan.stages[1].ranks = {1, 0};
  EXPECT_EQ(validation_error(plan),
            "plan.toml: stages[1].ranks: rank 0 is already in stages[0].ranks; a rank runs "
            "exactly one stage");

  plan = two_stage_plan();
  plan.stages[1].ranks = {1, 3};
  EXPECT_EQ(validation_error(plan),
            "plan.toml: stages[1].ranks: rank 3 is outside the world of 3 ranks (expected 0..2)");

  plan = two_stage_plan();
  plan.stages.clear();
  EXPECT_EQ(validation_error(plan), "plan.toml: stages: expected at least one [[stages]] table");

  EXPECT_EQ(validation_error(two_stage_plan(), "mlp", 8, 4),
            "plan.toml: stages: rank 3 of the world of 4 ranks is in no stage; every rank must "
            "run one stage");
  EXPECT_EQ(validation_error(two_stage_plan(), "resnet50"),
            "plan.toml: model: the plan is for model 'mlp', but the model is 'resnet50'");
}

// Every split of n blocks into k contiguous non-empty stages: the least largest stage, and among
// the splits that reach it the least sum of squared block counts (the tie-break).
std::pair<std::int64_t, std::int64_t> brute_force(const std::vector<std::int64_t>& bytes, int k) {
  const int n = static_cast<int>(bytes.size());
  std::pair<std::int64_t, std::int64_t> best{std::numeric_limits<std::int64_t>::max(), 0};
  for (unsigned cuts = 0; cuts < (1u << (n - 1)); ++cuts) {  // bit b: a stage ends after block b
    if (std::popcount(cuts) != k - 1) continue;
    std::int64_t largest = 0, squares = 0, sum = 0, count = 0;
    for (int b = 0; b < n; ++b) {
      sum += bytes[b];
      ++count;
      if (b == n - 1 || (cuts >> b & 1u)) {
        largest = std::max(largest, sum);
        squares += count * count;
        sum = count = 0;
      }
    }
    best = std::min(best, std::pair{largest, squares});
  }
  return best;
}

std::int64_t sum_of_squared_counts(const Plan& plan) {
  std::int64_t squares = 0;
  for (const StagePlan& stage : plan.stages) squares += stage.num_blocks() * stage.num_blocks();
  return squares;
}

TEST(EvenPlanByBytes, IsExactlyOptimalOnRandomSmallModels) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    int n = std::uniform_int_distribution<int>(1, 9)(rng);
    int k = std::uniform_int_distribution<int>(1, n)(rng);
    std::vector<std::int64_t> bytes(n);
    for (std::int64_t& b : bytes) {
      // Many zeros and repeats, so that ties between splits are common.
      b = std::bernoulli_distribution(0.3)(rng) ? 0
                                                : std::uniform_int_distribution<int>(1, 20)(rng);
    }
    Plan plan = even_plan_by_bytes("m", bytes, k, "gpipe", 2, 3);
    ASSERT_EQ(validation_error(plan, "m", n, k), "") << "trial " << trial;
    auto [largest, squares] = brute_force(bytes, k);
    ASSERT_EQ(max_stage_bytes(plan, bytes), largest) << "trial " << trial;
    ASSERT_EQ(sum_of_squared_counts(plan), squares) << "trial " << trial;
    for (int s = 0; s < k; ++s) ASSERT_EQ(plan.stages[s].ranks, std::vector<int>{s});
  }
}

std::vector<std::pair<std::int64_t, std::int64_t>> blocks_of(const Plan& plan) {
  std::vector<std::pair<std::int64_t, std::int64_t>> blocks;
  for (const StagePlan& stage : plan.stages)
    blocks.emplace_back(stage.first_block, stage.last_block);
  return blocks;
}

TEST(EvenPlanByBytes, SplitsLiteralExamples) {
  using Blocks = std::vector<std::pair<std::int64_t, std::int64_t>>;
  Plan plan = even_plan_by_bytes("m", {10, 10, 10, 10, 40, 10, 10, 10}, 3, "1f1b-flush", 4, 8);
  EXPECT_EQ(blocks_of(plan), (Blocks{{0, 3}, {4, 4}, {5, 7}}));
  EXPECT_EQ(plan.model, "m");
  EXPECT_EQ(plan.schedule, "1f1b-flush");
  EXPECT_EQ(plan.microbatches, 4);
  EXPECT_EQ(plan.microbatch_size, 8);
  EXPECT_FALSE(plan.prediction.has_value());
  // Ties go to even block counts.
  EXPECT_EQ(blocks_of(even_plan_by_bytes("m", {0, 0, 0, 0, 0, 0}, 3, "gpipe", 1, 1)),
            (Blocks{{0, 1}, {2, 3}, {4, 5}}));
  EXPECT_EQ(blocks_of(even_plan_by_bytes("m", {5, 0, 0, 0, 0, 5}, 2, "gpipe", 1, 1)),
            (Blocks{{0, 2}, {3, 5}}));
  // The zoo's mlp in fp32: 32->64, six 64->64, 64->10 linear layers with biases.
  std::vector<std::int64_t> mlp = {2112 * 4, 4160 * 4, 4160 * 4, 4160 * 4,
                                   4160 * 4, 4160 * 4, 4160 * 4, 650 * 4};
  EXPECT_EQ(blocks_of(even_plan_by_bytes("mlp", mlp, 4, "1f1b-flush", 4, 8)),
            (Blocks{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(blocks_of(even_plan_by_bytes("m", {7}, 1, "gpipe", 1, 1)), (Blocks{{0, 0}}));
}

TEST(EvenPlanByBytes, RejectsImpossibleRequests) {
  EXPECT_THROW(even_plan_by_bytes("m", {1, 2, 3}, 4, "gpipe", 1, 1), UsageError);
  EXPECT_THROW(even_plan_by_bytes("m", {}, 1, "gpipe", 1, 1), UsageError);
  EXPECT_THROW(even_plan_by_bytes("m", {1, 2, 3}, 0, "gpipe", 1, 1), UsageError);
  EXPECT_THROW(even_plan_by_bytes("m", {1, -2, 3}, 2, "gpipe", 1, 1), UsageError);
  EXPECT_THROW(even_plan_by_bytes("m", {1, 2, 3}, 2, "gpipe", 0, 1), UsageError);
  try {
    even_plan_by_bytes("mlp", {1, 2, 3}, 4, "gpipe", 1, 1);
    FAIL() << "4 stages of 3 blocks";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "default plan for model 'mlp': 4 stages, but the model has only 3 blocks and every "
              "stage needs at least one");
  }
}

TEST(ExamplePlan, Mlp4StagesFitsTheZooMlpOnFourRanks) {
  std::string path = std::string(REPIPE_SOURCE_DIR) + "/configs/plans/mlp-4stages.toml";
  Plan plan = load_plan(path);
  EXPECT_NO_THROW(validate_plan(plan, "mlp", 8, 4, path));
  EXPECT_EQ(plan.stages.size(), 4u);
  EXPECT_EQ(plan.world_size(), 4);
}

}  // namespace
}  // namespace repipe
