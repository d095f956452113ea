// End-to-end tests of `repipe optimize` as a user runs it: the example pipelines give a table and
// a plan TOML, the three solvers write the same plan, flags override the file, bad input is one
// line with exit code 2 naming the file and key, and an unreachable rate or SLA is one line
// with exit code 1 naming the constraint. Nothing is written unless a plan was found.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

namespace fs = std::filesystem;

const std::string kVideo =
    std::string(REPIPE_SOURCE_DIR) + "/configs/inference/pipelines/video.toml";
const std::string kNlp = std::string(REPIPE_SOURCE_DIR) + "/configs/inference/pipelines/nlp.toml";

// The plan's choices in one line, "detect yolov5m@1x4 classify resnet50@8x2", and its objective.
std::string choices_of(const toml::table& plan) {
  std::ostringstream text;
  for (const toml::node& node : *plan["stages"].as_array()) {
    const toml::table& stage = *node.as_table();
    if (text.tellp() > 0) text << " ";
    text << stage["name"].value_or(std::string()) << " " << stage["variant"].value_or(std::string())
         << "@" << stage["batch"].value_or(0) << "x" << stage["replicas"].value_or(0);
  }
  return text.str();
}

using OptimizeCliTest = CommandTest;

TEST_F(OptimizeCliTest, VideoPipelineGivesATableAndAPlan) {
  const fs::path plan_path = dir_ / "plans" / "video.toml";
  CommandResult r = run_repipe("optimize --pipeline " + kVideo + " --rate 20 --sla 1500 -o " +
                               plan_path.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("stage     variant   batch  replicas  latency ms  queue ms"),
            std::string::npos)
      << r.out;
  // detect: yolov5m at batch 1 needs ceil(20 * 0.196) = 4 replicas of 2 cores; classify:
  // resnet50 at batch 8 needs ceil(20 * 0.79 / 8) = 2, and waits 7 / 20 s for its batch.
  EXPECT_NE(r.out.find("detect    yolov5m       1         4       196.0       0.0       20.4"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("classify  resnet50      8         2       790.0     350.0       20.3"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("end to end 1336.0 ms = batches 986.0 + queueing 350.0 (SLA 1500 ms)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("wrote " + plan_path.string()), std::string::npos) << r.out;

  const toml::table plan = toml::parse_file(plan_path.string());
  EXPECT_EQ(plan["version"].value_or(0), 1);
  EXPECT_EQ(plan["pipeline"].value_or(std::string()), "video");
  EXPECT_EQ(plan["solver"].value_or(std::string()), "fast");
  EXPECT_EQ(plan["rate_per_s"].value_or(0.0), 20.0);
  EXPECT_GE(plan["solve_ms"].value_or(-1.0), 0.0);
  EXPECT_EQ(choices_of(plan), "detect yolov5m@1x4 classify resnet50@8x2");
  // 10 x 0.641 x 0.7613 - 0.05 x (8 + 4) cores - 0.001 x (1 + 8).
  const double objective = 10 * 0.641 * 0.7613 - 0.05 * 12 - 0.001 * 9;
  EXPECT_NEAR(plan["objective"]["value"].value_or(0.0), objective, 1e-12);
  EXPECT_NEAR(plan["objective"]["accuracy"].value_or(0.0), 0.641 * 0.7613, 1e-15);
  EXPECT_EQ(plan["objective"]["resources"].value_or(0.0), 12.0);
  EXPECT_EQ(plan["objective"]["batch_sum"].value_or(0), 9);
  EXPECT_EQ(plan["prediction"]["latency_ms"].value_or(0.0), 1336.0);
  EXPECT_EQ(plan["prediction"]["queue_ms"].value_or(0.0), 350.0);
  EXPECT_EQ(plan["stages"][1]["queue_ms"].value_or(0.0), 350.0);
  EXPECT_NEAR(plan["stages"][1]["throughput_per_s"].value_or(0.0), 2 * 8 / 0.79, 1e-9);
}

TEST_F(OptimizeCliTest, TheThreeSolversWriteTheSamePlan) {
  for (const auto& [pipeline, rate, sla] :
       {std::tuple{kVideo, 40, 600}, std::tuple{kNlp, 10, 4000}, std::tuple{kNlp, 1, 1500}}) {
    std::string reference;
    for (const std::string solver : {"brute", "milp", "fast"}) {
      const fs::path out = dir_ / (solver + ".toml");
      CommandResult r = run_repipe("optimize --pipeline " + pipeline + " --rate " +
                                   std::to_string(rate) + " --sla " + std::to_string(sla) +
                                   " --solver " + solver + " -o " + out.string());
      ASSERT_EQ(r.exit_code, 0) << solver << "\n" << r.out << r.err;
      EXPECT_NE(r.out.find("[" + solver + " solver, "), std::string::npos) << r.out;
      const toml::table plan = toml::parse_file(out.string());
      EXPECT_EQ(plan["solver"].value_or(std::string()), solver);
      const std::string choices = choices_of(plan) + " objective " +
                                  std::to_string(plan["objective"]["value"].value_or(0.0));
      if (reference.empty()) reference = choices;
      EXPECT_EQ(choices, reference) << pipeline << " with " << solver;
    }
  }
}

TEST_F(OptimizeCliTest, FlagsOverrideTheFile) {
  const fs::path out = dir_ / "plan.toml";
  // Only resources count: one replica of a 1-core variant in each stage, at a batch that keeps
  // up with 19 req/s alone: yolov5n at batch 4 (4 / 0.196 = 20.4 req/s), resnet18 at batch 8
  // (8 / 0.406 = 19.7 req/s).
  CommandResult r = run_repipe("optimize --pipeline " + kVideo +
                               " --rate 19 --sla 3000 --alpha 0 --beta 1 --gamma 0 "
                               "--max-replicas 1 -o " +
                               out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const toml::table plan = toml::parse_file(out.string());
  EXPECT_EQ(plan["objective"]["alpha"].value_or(-1.0), 0.0);
  EXPECT_EQ(plan["objective"]["beta"].value_or(-1.0), 1.0);
  EXPECT_EQ(plan["max_replicas"].value_or(0), 1);
  EXPECT_EQ(choices_of(plan), "detect yolov5n@4x1 classify resnet18@8x1");
  // 20 req/s is beyond every classifier on one replica.
  r = run_repipe("optimize --pipeline " + kVideo + " --rate 20 --sla 3000 --max-replicas 1");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err,
            "repipe: infeasible: stage 'classify': no variant reaches 20 req/s with at most 1 "
            "replica (the fastest, resnet18 at batch 8, serves 19.7 req/s per replica, 19.7 req/s "
            "with 1)\n");
}

TEST_F(OptimizeCliTest, InfeasibleNamesTheConstraintAndWritesNothing) {
  const fs::path out = dir_ / "plan.toml";
  for (const std::string solver : {"brute", "milp", "fast"}) {
    CommandResult r = run_repipe("optimize --pipeline " + kVideo + " --rate 1000 --sla 5000 " +
                                 "--solver " + solver + " -o " + out.string());
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.err,
              "repipe: infeasible: stage 'detect': no variant reaches 1000 req/s with at most 32 "
              "replicas (the fastest, yolov5n at batch 8, serves 21.51 req/s per replica, 688.2 "
              "req/s with 32)\n");
    // The fastest: yolov5n (62 ms) and resnet18 (70 ms) at batch 1.
    r = run_repipe("optimize --pipeline " + kVideo + " --rate 20 --sla 50 --solver " + solver +
                   " -o " + out.string());
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("repipe: infeasible: SLA 50 ms is below the fastest end-to-end latency "
                          "132.0 ms at 20 req/s (detect 62.0 ms, classify 70.0 ms;",
                          0),
              0u)
        << r.err;
    EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST_F(OptimizeCliTest, BadFlagsAreOneLineAndExitCodeTwo) {
  const std::string base = "optimize --pipeline " + kVideo;
  expect_usage_error(base + " --rate -5 --sla 100",
                     "flag --rate: expected requests per second > 0");
  expect_usage_error(base + " --rate 5 --sla 0", "flag --sla: expected an end-to-end latency");
  expect_usage_error(base + " --rate 5 --sla 100 --solver gurobi",
                     "flag --solver: expected brute, milp or fast, got 'gurobi'");
  expect_usage_error(base + " --rate 5 --sla 100 --beta -1", "flag --beta: expected a weight >= 0");
  expect_usage_error(base + " --rate 5 --sla 100 --max-replicas 0",
                     "flag --max-replicas: expected an integer >= 1");
  expect_usage_error(base + " --sla 100", "--rate is required");
  expect_usage_error("optimize --pipeline " + (dir_ / "none.toml").string() + " --rate 5 --sla 100",
                     "none.toml: pipeline file not found");
  expect_usage_error(base + " --rate 5 --sla 100 -o " + dir_.string(), "is a folder");
}

// A pipeline file with one line replaced.
class BadPipelineTest : public CommandTest {
 protected:
  std::string write_pipeline(const std::string& from, const std::string& to) {
    std::string text = read_text(kVideo);
    const std::size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    const fs::path path = dir_ / "pipeline.toml";
    std::ofstream(path) << text;
    return path.string();
  }

  // Exit code 2, one line naming the file and `expected`, and no plan.
  void expect_bad(const std::string& from, const std::string& to, const std::string& expected) {
    const std::string path = write_pipeline(from, to);
    const fs::path out = dir_ / "plan.toml";
    expect_usage_error("optimize --pipeline " + path + " --rate 5 --sla 1000 -o " + out.string(),
                       path + expected);
    EXPECT_FALSE(fs::exists(out));
  }
};

TEST_F(BadPipelineTest, NamesTheFileTheKeyAndWhatWasExpected) {
  expect_bad("accuracy = 0.457", "accuracy = 45.7",
             ":27: stages[0].variants[0].accuracy: expected a fraction in (0, 1]");
  expect_bad("accuracy = 0.457", "accuracy = 0",
             ":27: stages[0].variants[0].accuracy: expected a fraction in (0, 1]");
  expect_bad("latency_ms = [62, 108, 196, 372]", "latency_ms = [62, -108, 196, 372]",
             ":30: stages[0].variants[0].latency_ms[1]: expected a latency in ms > 0, got -108");
  expect_bad("latency_ms = [62, 108, 196, 372]", "",
             ":25: stages[0].variants[0].latency_ms: expected a list of latencies in ms");
  expect_bad(
      "latency_ms = [62, 108, 196, 372]", "latency_ms = [62, 108]",
      ":30: stages[0].variants[0].latency_ms: expected one latency per batch size (4), got 2");
  expect_bad("resources = 1\n", "resources = -2\n",
             ":28: stages[0].variants[0].resources: expected resources per replica > 0, got -2");
  expect_bad("name = \"yolov5s\"", "name = \"yolov5n\"",
             ":33: stages[0].variants[1].name: variant name 'yolov5n' is already used");
  expect_bad("accuracy_method = \"product\"", "accuracy_method = \"multiply\"",
             ":12: accuracy_method: expected product, sum or mean, got 'multiply'");
  expect_bad("alpha = 10.0", "",
             ": alpha: expected a weight >= 0 (the key is missing; or give --alpha)");
  expect_bad("max_replicas = 32", "max_replicas = 0",
             ":16: max_replicas: expected an integer in [1, 1000000], got 0");
  expect_bad("max_replicas = 32", "max_replicas = 3.5",
             ":16: max_replicas: expected an integer, got a float");
  expect_bad("batches = [1, 2, 4, 8]\nlatency_ms = [62", "batches = [1, 4, 2, 8]\nlatency_ms = [62",
             ":29: stages[0].variants[0].batches[2]: expected batch sizes in increasing order");
  expect_bad("name = \"detect\"", "nmae = \"detect\"",
             ":23: stages[0].nmae: unknown key (expected one of name, variants)");
  expect_bad("version = 1", "version = [1", ":11: not valid TOML");
}

TEST_F(OptimizeCliTest, BruteForceRefusesAnEnormousSearch) {
  // Ten stages of ten variants: 10^10 configurations.
  std::string text =
      "version = 1\nname = \"big\"\naccuracy_method = \"sum\"\n"
      "alpha = 1\nbeta = 0.01\ngamma = 0\n";
  for (int s = 0; s < 10; ++s) {
    text += "[[stages]]\nname = \"s" + std::to_string(s) + "\"\n";
    for (int v = 0; v < 10; ++v) {
      text += "[[stages.variants]]\nname = \"v" + std::to_string(v) + "\"\naccuracy = 0." +
              std::to_string(50 + v) + "\nresources = 1\nbatches = [1]\nlatency_ms = [" +
              std::to_string(10 + v) + "]\n";
    }
  }
  const fs::path path = dir_ / "big.toml";
  std::ofstream(path) << text;
  expect_usage_error("optimize --pipeline " + path.string() + " --rate 10 --sla 500 --solver brute",
                     "flag --solver brute: 1e+10 configurations are too many to enumerate");
  // The others take it in stride: every stage its most accurate variant.
  CommandResult r = run_repipe("optimize --pipeline " + path.string() + " --rate 10 --sla 500");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(count_of(r.out, " v9 "), 10u) << r.out;
}

}  // namespace
}  // namespace repipe::testing
