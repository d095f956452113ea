// End-to-end tests of `repipe predictor train|eval` as a user runs them: train on a dataset the
// test writes, evaluate into key=value lines, and bad input as one line and exit code 2.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

// The interference dataset's header, as documented: a change here is a format change.
constexpr const char* kHeader =
    "probe,model,first_block,last_block,batch_size,kind,intensity,corunners,placement,repeat,"
    "probe_gflop,probe_mbytes,probe_mparams,count_linear,count_conv,count_norm,count_activation,"
    "count_pool,count_attention,count_embedding,alone_ms,probe_gflops,probe_gbps,"
    "load_cpu_util,load_probe_core_util,load_run_queue,load_ctx_switches_per_s,"
    "load_compute_fraction,load_memory_fraction,load_llc_misses_per_s,"
    "corunner_gflops,corunner_gbps,peak_gbps,deinfer_own_gl,deinfer_corunner_gl,"
    "colocated_ms,slowdown";

// probes × interferers × repeats rows; the slowdown is nonlinear in the load.
std::string synthetic_dataset(int probes, int interferers, int repeats) {
  std::mt19937_64 rng(3);
  auto uniform = [&](double low, double high) {
    return std::uniform_real_distribution<double>(low, high)(rng);
  };
  std::ostringstream csv;
  csv.precision(17);
  csv << kHeader << "\n";
  const char* kinds[] = {"compute", "memory", "mixed"};
  for (int p = 0; p < probes; ++p) {
    const double gflop = uniform(0.1, 20), mbytes = uniform(1, 300), alone_ms = uniform(2, 50);
    const int convs = p % 4 * 5;
    for (int i = 0; i < interferers; ++i) {
      std::mt19937_64 load_rng(100 + static_cast<unsigned>(i));  // the same load for every probe
      auto load = [&](double low, double high) {
        return std::uniform_real_distribution<double>(low, high)(load_rng);
      };
      const double core = load(0, 1), compute = load(0.2, 1), memory = load(0.2, 1);
      for (int k = 0; k < repeats; ++k) {
        const double slowdown =
            (1 + 2 * core * (1 - compute) + (convs > 5 ? 1.0 : 0.2) * (1 - memory)) *
            (1 + uniform(-0.005, 0.005));
        csv << "p" << p << "[0-1]@b8,p" << p << ",0,1,8," << kinds[i % 3] << ","
            << 0.1 * (1 + i % 10) << "," << 1 + i % 3 << "," << (i % 2 ? "same" : "other") << ","
            << k << "," << gflop << "," << mbytes << ",1.5,2," << convs << ",1,3,1,0,0," << alone_ms
            << "," << 1000 * gflop / alone_ms << "," << mbytes / alone_ms << "," << core * 0.6
            << "," << core << "," << 3 * core << "," << 20000 * core << "," << compute << ","
            << memory << ",-1," << 30 * core << "," << 10 * (1 - memory) << ",40,"
            << 1000 * gflop / alone_ms * 100 * mbytes / alone_ms / 40 << ","
            << 30 * core * 100 * 10 * (1 - memory) / 40 << "," << alone_ms * slowdown << ","
            << slowdown << "\n";
      }
    }
  }
  return csv.str();
}

// key=value lines of `text`.
std::map<std::string, std::string> key_values(const std::string& text) {
  std::map<std::string, std::string> values;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

using PredictorCliTest = CommandTest;

TEST_F(PredictorCliTest, TrainsThenEvaluatesIntoKeyValueLines) {
  const std::filesystem::path data = dir_ / "data.csv";
  std::ofstream(data) << synthetic_dataset(6, 8, 2);
  const std::filesystem::path model = dir_ / "model";
  CommandResult r = run_repipe("predictor train --data " + data.string() + " -o " + model.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("96 rows: 6 probes, 8 interferers, 48 (probe, interferer) pairs, 20 "
                       "features"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("wrote " + model.string()), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::is_regular_file(model / "predictor.toml"));
  EXPECT_TRUE(std::filesystem::is_regular_file(model / "forest.json"));

  const std::string eval = "predictor eval --data " + data.string() + " --model " + model.string();
  r = run_repipe(eval + " --seed 4");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, std::string> values = key_values(r.out);
  EXPECT_EQ(values["rows"], "96");
  EXPECT_EQ(values["pairs"], "48");
  const std::regex percent(R"(\d+\.\d{3})");
  for (const char* key : {"mape_random", "mape_unseen", "noise_floor", "baseline_linear_random",
                          "baseline_linear_unseen", "baseline_deinfer_random",
                          "baseline_deinfer_unseen", "mape_model"}) {
    ASSERT_TRUE(values.count(key)) << key << " missing in\n" << r.out;
    EXPECT_TRUE(std::regex_match(values[key], percent)) << key << "=" << values[key];
  }
  // The model saw these rows: it fits them better than a fresh model predicts unseen ones.
  EXPECT_LT(std::stod(values["mape_model"]), std::stod(values["mape_random"])) << r.out;
  EXPECT_LT(std::stod(values["mape_random"]), std::stod(values["baseline_linear_random"])) << r.out;
  EXPECT_GT(std::stod(values["noise_floor"]), 0);
  // The same seed gives the same figures.
  EXPECT_EQ(run_repipe(eval + " --seed 4").out, r.out);
}

// The dataset collected on the development VM (data/interference/): the predictor trained on it
// must beat both baselines on both splits, and stay within 1.5x the noise of the measurements
// themselves on a random split (the issue's goals that this CPU can meet).
TEST_F(PredictorCliTest, TheCommittedCpuDatasetTrainsAPredictorThatBeatsTheBaselines) {
  const std::filesystem::path data =
      std::filesystem::path(REPIPE_SOURCE_DIR) / "data/interference/interference-cpu.csv";
  const std::filesystem::path model = dir_ / "cpu";
  CommandResult r = run_repipe("predictor train --data " + data.string() + " -o " + model.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_repipe("predictor eval --data " + data.string() + " --model " + model.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, std::string> values = key_values(r.out);
  EXPECT_EQ(std::stoul(values["rows"]), count_lines(data) - 1);
  auto value = [&](const char* key) { return std::stod(values[key]); };
  EXPECT_LT(value("mape_random"), value("baseline_linear_random")) << r.out;
  EXPECT_LT(value("mape_random"), value("baseline_deinfer_random")) << r.out;
  EXPECT_LT(value("mape_unseen"), value("baseline_linear_unseen")) << r.out;
  EXPECT_LT(value("mape_unseen"), value("baseline_deinfer_unseen")) << r.out;
  EXPECT_LE(value("mape_random"), 1.5 * value("noise_floor")) << r.out;
}

// A run with the predictor writes one row per stage and window: the measured slowdown beside
// the predicted one, and each stage's rank's load; a folder that is no predictor is one error.
TEST_F(PredictorCliTest, TrainingWithAPredictorWritesPredictionsPerStageAndWindow) {
  const std::filesystem::path data = dir_ / "data.csv";
  std::ofstream(data) << synthetic_dataset(6, 8, 2);
  const std::filesystem::path model = dir_ / "model";
  ASSERT_EQ(
      run_repipe("predictor train --data " + data.string() + " -o " + model.string()).exit_code, 0);
  const std::filesystem::path run = dir_ / "run";
  CommandResult r = run_command(
      mpirun_repipe(2, "train --model mlp --steps 12 --monitor-every 4 --slowdown-predictor " +
                           model.string() + " --output " + run.string()));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::filesystem::path predictions = run / "predictions.csv";
  ASSERT_TRUE(std::filesystem::is_regular_file(predictions)) << r.out;
  const std::string text = read_text(predictions);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "step,stage,rank,measured_slowdown,predicted_slowdown,predicted_vs_alone,"
            "load_cpu_util,load_core_util,load_run_queue,load_compute_fraction,"
            "load_memory_fraction");
  EXPECT_EQ(csv_column(predictions, 0),
            (std::vector<std::string>{"step", "4", "4", "8", "8", "12", "12"}));
  EXPECT_EQ(csv_column(predictions, 2),
            (std::vector<std::string>{"rank", "0", "1", "0", "1", "0", "1"}));
  const std::vector<std::string> predicted = csv_column(predictions, 4);
  EXPECT_EQ(predicted[1], "1") << "under the reference window's own load, no change";
  EXPECT_EQ(predicted[2], "1");
  for (std::size_t column : {3, 4, 5, 9, 10}) {
    const std::vector<std::string> cells = csv_column(predictions, column);
    for (std::size_t row = 1; row < cells.size(); ++row) {
      EXPECT_GT(std::stod(cells[row]), 0) << "column " << column << " row " << row;
    }
  }

  r = run_command(mpirun_repipe(
      2, "train --model mlp --steps 2 --slowdown-predictor " + (dir_ / "nowhere").string()));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_of(r.err, "repipe: error: "), 1u) << r.err;
  EXPECT_NE(r.err.find("no such predictor folder"), std::string::npos) << r.err;
}

TEST_F(PredictorCliTest, BadInputIsOneLineAndExitCodeTwo) {
  const std::string model = " -o " + (dir_ / "model").string();
  const std::filesystem::path absent = dir_ / "absent.csv";
  expect_usage_error("predictor train --data " + absent.string() + model,
                     absent.string() + ": no such interference dataset file");

  std::string header = kHeader;
  std::ofstream(dir_ / "header.csv") << "probes" << header.substr(5) << "\n";
  expect_usage_error("predictor train --data " + (dir_ / "header.csv").string() + model,
                     "header.csv:1: column probe: expected the interference dataset header");

  std::string rows = synthetic_dataset(2, 2, 1);
  rows.replace(rows.rfind(',') + 1, std::string::npos, "abc\n");  // the last row's slowdown
  std::ofstream(dir_ / "bad.csv") << rows;
  expect_usage_error("predictor train --data " + (dir_ / "bad.csv").string() + model,
                     "bad.csv:5: column slowdown: expected a finite number, got 'abc'");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "model")) << "nothing written on bad input";

  // Enough to train on, too little to split for an evaluation.
  std::ofstream(dir_ / "small.csv") << synthetic_dataset(2, 2, 2);
  CommandResult r = run_repipe("predictor train --data " + (dir_ / "small.csv").string() + model);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string eval_small =
      "predictor eval --data " + (dir_ / "small.csv").string() + " --model ";
  expect_usage_error(eval_small + (dir_ / "model").string(), "needs at least 10 rows");
  expect_usage_error(eval_small + (dir_ / "nowhere").string(), "no such predictor folder");

  expect_usage_error("predictor fit --data x.csv", "fit");
  expect_usage_error("predictor", "expected a subcommand: train or eval");
  expect_usage_error("predictor train --data x.csv", "--output");
  expect_usage_error("predictor eval --data x.csv", "--model");
}

}  // namespace
}  // namespace repipe::testing
