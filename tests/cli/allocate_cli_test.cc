// End-to-end tests of `repipe allocate profile|plan|cusum|simulate` as a user runs them: a
// profile measured into a repository, plans from the committed example repository under the three
// policies, the CUSUM reference, a plan served in simulation from a trace and from a job file,
// and bad input: exit 2 naming file and key, exit 1 naming the constraint that
// fails, nothing written either way.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

namespace fs = std::filesystem;

const std::string kExampleRepo = std::string(REPIPE_SOURCE_DIR) + "/configs/inference/models";
const std::string kMixedLoad =
    std::string(REPIPE_SOURCE_DIR) + "/configs/inference/loads/mixed.toml";
const std::string kHeavyLoad =
    std::string(REPIPE_SOURCE_DIR) + "/configs/inference/loads/heavy.toml";

using AllocateCliTest = CommandTest;

// An infeasible input: exit 1 and one line "repipe: infeasible: ..." containing `expected`.
void expect_infeasible(const std::string& args, const std::string& expected) {
  const CommandResult r = run_repipe(args);
  EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out << r.err;
  EXPECT_EQ(r.err.rfind("repipe: infeasible: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << args << "\nstderr: " << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
}

std::string plan_args(const std::string& load, int gpus, const std::string& more = "") {
  return "allocate plan --repo " + kExampleRepo + " --load " + load + " --gpus " +
         std::to_string(gpus) + " " + more;
}

TEST_F(AllocateCliTest, ProfileWritesARepositoryEntryThePlannerReads) {
  const fs::path repo = dir_ / "repo";
  CommandResult r = run_repipe(
      "allocate profile --model mlp --batch-sizes 1,4 --shares 25,50,100 --threads 1 "
      "--repeats 3 --warmup 1 --slo-ms 10 -o " +
      repo.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("wrote " + (repo / "mlp").string() + " (model.toml, runtime.csv)"),
            std::string::npos)
      << r.out;
  // Scaled shares: latency at s = latency at 100% x 100 / s, every batch at every share.
  const std::vector<std::string> batch = csv_column(repo / "mlp/runtime.csv", 0);
  const std::vector<std::string> share = csv_column(repo / "mlp/runtime.csv", 1);
  const std::vector<std::string> ms = csv_column(repo / "mlp/runtime.csv", 2);
  ASSERT_EQ(batch, (std::vector<std::string>{"batch_size", "1", "1", "1", "4", "4", "4"}));
  EXPECT_EQ(share, (std::vector<std::string>{"share", "25", "50", "100", "25", "50", "100"}));
  EXPECT_NEAR(std::stod(ms[1]), 4 * std::stod(ms[3]), 1e-9 * std::stod(ms[1]));
  EXPECT_NEAR(std::stod(ms[2]), 2 * std::stod(ms[3]), 1e-9 * std::stod(ms[2]));
  const std::string config = read_text(repo / "mlp/model.toml");
  EXPECT_NE(config.find("name = \"mlp\""), std::string::npos) << config;
  EXPECT_NE(config.find("batch_sizes = [1, 4]"), std::string::npos) << config;
  EXPECT_NE(config.find("slo_ms = 10.0"), std::string::npos) << config;
  EXPECT_NE(config.find("share_method = \"scaled\""), std::string::npos) << config;
  EXPECT_EQ(count_of(config, "[[features]]"), 2u);

  // The planner reads it: one model at a light rate fits on one GPU.
  std::ofstream(dir_ / "load.toml") << "version = 1\n[[models]]\nname = \"mlp\"\nrate = 50\n";
  r = run_repipe("allocate plan --repo " + repo.string() + " --load " +
                 (dir_ / "load.toml").string() + " -o " + (dir_ / "plan.toml").string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("every placement meets its SLO"), std::string::npos) << r.out;
  EXPECT_NE(read_text(dir_ / "plan.toml").find("format = \"repipe-allocation\""),
            std::string::npos);
}

TEST_F(AllocateCliTest, PlanPrintsATableAndWritesThePlanForEachPolicy) {
  const fs::path plan = dir_ / "plan.toml";
  CommandResult r = run_repipe(plan_args(kHeavyLoad, 4, "-o " + plan.string()));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("policy deinfer on 4 GPUs; interference: deinfer c0="), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("every placement meets its SLO"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + plan.string()), std::string::npos);
  const std::string text = read_text(plan);
  EXPECT_NE(text.find("policy = \"deinfer\""), std::string::npos);
  EXPECT_EQ(count_of(text, "[[models]]"), 4u);
  EXPECT_GE(count_of(text, "[[models.placements]]"), 5u);  // the heavy load splits a model
  EXPECT_EQ(count_of(text, "[[gpu_totals]]"), 4u);
  EXPECT_EQ(count_of(text, "meets_slo = false"), 0u);
  // The baselines on the same load: greedy ignores interference, even ignores the rates; both
  // plans are scored with the predictor and show their misses.
  r = run_repipe(plan_args(kHeavyLoad, 4, "--policy greedy"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("MISSED"), std::string::npos) << r.out;
  r = run_repipe(plan_args(kHeavyLoad, 4, "--policy even"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("GPU 0 100%, GPU 1 100%, GPU 2 100%, GPU 3 100%"), std::string::npos)
      << r.out;
  // A light load packs onto one GPU.
  r = run_repipe(plan_args(kMixedLoad, 2));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("4 models on 1 of 2 GPUs"), std::string::npos) << r.out;
}

TEST_F(AllocateCliTest, InfeasibleInputExitsOneNamingTheConstraint) {
  const fs::path plan = dir_ / "plan.toml";
  // More than the GPUs can hold.
  expect_infeasible(plan_args(kHeavyLoad, 2, "-o " + plan.string()), "GPUs cannot serve it");
  expect_infeasible(plan_args(kHeavyLoad, 2),
                    "GPUs' worth at full share without interference, "
                    "2 are given");
  EXPECT_FALSE(fs::exists(plan));
  // An SLO below what the fastest batch needs alone.
  std::ofstream(dir_ / "tight.toml")
      << "version = 1\n[[models]]\nname = \"bert-tiny\"\nrate = 1\nslo_ms = 2\n";
  expect_infeasible(plan_args((dir_ / "tight.toml").string(), 1),
                    "the SLO is below what the model needs");
  // A model without a runtime profile.
  const fs::path repo = dir_ / "repo";
  fs::copy(kExampleRepo, repo, fs::copy_options::recursive);
  fs::remove(repo / "bert-tiny/runtime.csv");
  expect_infeasible("allocate plan --repo " + repo.string() + " --load " + kMixedLoad,
                    "model 'bert-tiny' has no runtime profile");
  // The even split below the smallest share.
  expect_infeasible(plan_args(kMixedLoad, 1, "--policy even --min-share 30"),
                    "below the smallest share (30%)");
}

TEST_F(AllocateCliTest, BadInputExitsTwoNamingFileAndKey) {
  expect_usage_error(plan_args(kMixedLoad, 2, "--policy fair"),
                     "flag --policy: expected deinfer, even or greedy, got 'fair'");
  expect_usage_error(plan_args(kMixedLoad, 0), "flag --gpus: expected at least 1 GPU");
  const fs::path load = dir_ / "load.toml";
  std::ofstream(load) << "version = 1\n[[models]]\nname = \"small_cnn\"\nrate = -5\n";
  expect_usage_error(plan_args(load.string(), 1),
                     "load.toml:4: models[0].rate: expected an arrival rate in requests/s >= 0, "
                     "got -5");
  std::ofstream(load) << "version = 1\n[[models]]\nname = \"small_cnn\"\n";
  expect_usage_error(plan_args(load.string(), 1),
                     "models[0].rate: expected a number (the key is missing)");
  std::ofstream(load) << "version = 1\n[[models]]\nname = \"resnet50\"\nrate = 5\n";
  expect_usage_error(plan_args(load.string(), 1),
                     "models[0].name: expected a model of the repository");
  std::ofstream(load) << "version = 1\n[[models]\n";
  expect_usage_error(plan_args(load.string(), 1), "load.toml:2: not valid TOML");
  expect_usage_error(plan_args((dir_ / "missing.toml").string(), 1), "missing.toml: no such file");
  expect_usage_error(
      "allocate plan --repo " + (dir_ / "nowhere").string() + " --load " + kMixedLoad,
      "nowhere: no such folder (expected a model repository");
  // A repository entry with a key missing.
  const fs::path repo = dir_ / "repo";
  fs::copy(kExampleRepo, repo, fs::copy_options::recursive);
  std::string config = read_text(repo / "small_cnn/model.toml");
  config.replace(config.find("slo_ms"), 6, "#slo_ms");
  std::ofstream(repo / "small_cnn/model.toml") << config;
  expect_usage_error("allocate plan --repo " + repo.string() + " --load " + kMixedLoad,
                     "small_cnn/model.toml:1: slo_ms: expected a number (the key is missing)");
  expect_usage_error(plan_args(kMixedLoad, 1, "--predictor " + (dir_ / "none").string()),
                     "no such predictor folder");
  expect_usage_error("allocate profile --model nope -o " + repo.string(),
                     "flag --model: unknown "
                     "model 'nope'");
  expect_usage_error("allocate profile --model mlp --shares 10,50 -o " + repo.string(),
                     "flag --shares: expected 100 among them");
  expect_usage_error("allocate profile --model mlp --share-method mps -o " + repo.string(),
                     "flag --share-method: mps needs a CUDA device");
  expect_usage_error("allocate cusum --rates " + (dir_ / "none.csv").string(), "none.csv");
  expect_usage_error("allocate cusum --rates " + kMixedLoad + " --threshold 0", "flag --threshold");
}

TEST_F(AllocateCliTest, CusumPrintsEachAlarmAndWritesThemAsCsv) {
  // DeInfer's reference: 40/s for 25 s, then 100/s: 70 at the first alarm, then 85.
  std::ofstream rates(dir_ / "rates.csv");
  rates << "time,count\n";
  for (int t = 0; t < 30; ++t) rates << t << "," << (t < 25 ? 40 : 100) << "\n";
  rates.close();
  const fs::path alarms = dir_ / "alarms.csv";
  const CommandResult r = run_repipe("allocate cusum --rates " + (dir_ / "rates.csv").string() +
                                     " -o " + alarms.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("alarm 1: index 25, time 25 s: up, rate 40.00/s -> 70.00/s"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("alarm 2: index 27, time 27 s: up, rate 70.00/s -> 85.00/s"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("2 alarms over 30 intervals of 1 s (h = 50, k = 0, window 20)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(csv_column(alarms, 4), (std::vector<std::string>{"new_rate", "70", "85"}));
  EXPECT_EQ(csv_column(alarms, 2), (std::vector<std::string>{"direction", "up", "up"}));
  // A drift of 40 a second hides this jump (60 - 40 = 20 a second, 60 after three).
  const CommandResult drift =
      run_repipe("allocate cusum --rates " + (dir_ / "rates.csv").string() + " --drift 40");
  ASSERT_EQ(drift.exit_code, 0) << drift.err;
  EXPECT_NE(drift.out.find("alarm 1: index 27"), std::string::npos) << drift.out;
}

TEST_F(AllocateCliTest, SimulateServesAPlanFromATraceOrAJobFile) {
  const fs::path plan = dir_ / "plan.toml";
  ASSERT_EQ(run_repipe(plan_args(kMixedLoad, 2, "-o " + plan.string())).exit_code, 0);
  const std::string simulate =
      "allocate simulate --repo " + kExampleRepo + " --plan " + plan.string() + " ";
  const fs::path out = dir_ / "sim";
  CommandResult r = run_repipe(simulate + "--trace constant --duration 20 -o " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("policy deinfer, "), std::string::npos) << r.out;
  for (const char* file : {"summary.csv", "gpus.csv", "reallocations.csv", "periods.csv"})
    EXPECT_TRUE(fs::is_regular_file(out / file)) << file;
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
  // The mixed load's four models and "all"; 1,190 requests a second for 20 s, Poisson.
  const std::vector<std::string> models = csv_column(out / "summary.csv", 0);
  EXPECT_EQ(models, (std::vector<std::string>{"model", "small_cnn", "resnet-mini", "gpt2-tiny",
                                              "bert-tiny", "all"}));
  const double requests = std::stod(csv_column(out / "summary.csv", 1).back());
  EXPECT_NEAR(requests, 1190 * 20, 5 * std::sqrt(1190 * 20));
  EXPECT_EQ(csv_column(out / "gpus.csv", 0), (std::vector<std::string>{"gpu", "0", "1"}));
  // 20 periods of 1 s for each of the 4 models.
  EXPECT_EQ(csv_column(out / "periods.csv", 0).size(), 1u + 4 * 20);

  // A job file: bucket k goes to model k mod 4; 3 jobs, 2 for bucket 1 (resnet-mini), one for
  // bucket 4 (small_cnn).
  std::ofstream(dir_ / "jobs.csv") << "JobId,InputLen,Length,Admitted,BucketIdx\n"
                                   << "0,,12.5,0.0,1\n1,,12.5,100.0,1\n2,,9.0,200.0,4\n";
  r = run_repipe(simulate + "--jobs " + (dir_ / "jobs.csv").string() + " -o " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(csv_column(out / "summary.csv", 1),
            (std::vector<std::string>{"requests", "1", "2", "0", "0", "3"}));
  EXPECT_EQ(csv_column(out / "summary.csv", 5),
            (std::vector<std::string>{"miss_rate", "0", "0", "0", "0", "0"}));

  // Bad input: exit 2, nothing written.
  expect_usage_error(simulate + "--trace constant --jobs " + (dir_ / "jobs.csv").string() + " -o " +
                         (dir_ / "x").string(),
                     "give exactly one of --jobs");
  std::ofstream(dir_ / "bad.csv") << "JobId,InputLen,Length,Admitted,BucketIdx\n0,,1,-5,0\n";
  expect_usage_error(
      simulate + "--jobs " + (dir_ / "bad.csv").string() + " -o " + (dir_ / "x").string(),
      "column Admitted: expected a time >= 0 ms");
  EXPECT_FALSE(fs::exists(dir_ / "x"));
}

}  // namespace
}  // namespace repipe::testing
