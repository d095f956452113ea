// End-to-end tests of the `repipe` command as a user runs it: exit codes, one-line errors,
// run.toml and metrics.csv, determinism, and no dependency on the CUDA driver.
#include <filesystem>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

using CliTest = CommandTest;

// metrics.csv without the timing columns (samples_per_s, step_ms), which vary run to run.
std::string metrics_without_timing(const std::filesystem::path& path) {
  std::istringstream in(read_text(path));
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    std::string cell;
    while (std::getline(row, cell, ',')) cells.push_back(cell);
    if (line.back() == ',') cells.push_back("");
    EXPECT_EQ(cells.size(), 8u) << line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i != 2 && i != 4) out += cells[i] + ",";
    }
    out += "\n";
  }
  return out;
}

TEST_F(CliTest, VersionAndHelp) {
  CommandResult version = run_repipe("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("repipe 0.1.0 (git ", 0), 0u) << version.out;
  CommandResult help = run_repipe("train --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--batch-size"), std::string::npos);
  EXPECT_NE(help.out.find("resnet50"), std::string::npos);
  EXPECT_EQ(run_repipe("").exit_code, 2);  // a subcommand is required
}

TEST_F(CliTest, BadInputIsOneLineAndExitCodeTwo) {
  expect_usage_error("train --batch-size 30 --microbatches 4",
                     "flag --batch-size: 30 does not divide by microbatches = 4");
  expect_usage_error("train --steps abc", "flag --steps: expected an integer, got 'abc'");
  expect_usage_error("train --model nope", "unknown model 'nope'");
  expect_usage_error("train --optimizer lamb", "flag --optimizer: expected adam | adamw | sgd");
  expect_usage_error("train --bogus 1", "--bogus");
  expect_usage_error("train --device cuda:99", "flag --device: cuda:99 asked for");
  expect_usage_error("train --config " + (dir_ / "absent.toml").string(), "config file not found");
  std::ofstream(dir_ / "bad.toml") << "steps = 3\nlearning_rate = 0.1\n";
  expect_usage_error("train --config " + (dir_ / "bad.toml").string(),
                     "bad.toml:2: key 'learning_rate': unknown key");
  std::ofstream(dir_ / "file") << "not a folder";
  expect_usage_error("train --steps 1 --output " + (dir_ / "file" / "run").string(),
                     "cannot create folder");
}

TEST_F(CliTest, SameSeedSameMetricsAndRunTomlReproducesTheRun) {
  std::string args =
      "train --model mlp --steps 12 --seed 7 --microbatches 4 --eval-every 5 --threads 1";
  ASSERT_EQ(run_repipe(args + " --output " + (dir_ / "a").string()).exit_code, 0);
  ASSERT_EQ(run_repipe(args + " --output " + (dir_ / "b").string()).exit_code, 0);
  std::string a = metrics_without_timing(dir_ / "a" / "metrics.csv");
  EXPECT_EQ(a, metrics_without_timing(dir_ / "b" / "metrics.csv"));
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 13);  // header + 12 steps
  EXPECT_EQ(a.rfind("step,loss,lr,grad_norm,eval_loss,eval_accuracy,\n1,", 0), 0u) << a;

  // run.toml holds the whole resolved config: it reproduces the run by itself.
  std::string toml = read_text(dir_ / "a" / "run.toml");
  EXPECT_NE(toml.find("seed = 7"), std::string::npos);
  EXPECT_NE(toml.find("git_commit = "), std::string::npos);
  ASSERT_EQ(run_repipe("train --config " + (dir_ / "a" / "run.toml").string() + " --output " +
                       (dir_ / "c").string())
                .exit_code,
            0);
  EXPECT_EQ(a, metrics_without_timing(dir_ / "c" / "metrics.csv"));

  ASSERT_EQ(run_repipe("train --model mlp --steps 12 --seed 8 --microbatches 4 --eval-every 5 "
                       "--threads 1 --output " +
                       (dir_ / "d").string())
                .exit_code,
            0);
  EXPECT_NE(a, metrics_without_timing(dir_ / "d" / "metrics.csv"));
}

TEST_F(CliTest, BinaryDoesNotNeedTheCudaDriver) {
  CommandResult r;
  std::string command = "readelf -d " + repipe_binary() + " > " + (dir_ / "elf").string();
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::string dynamic = read_text(dir_ / "elf");
  EXPECT_NE(dynamic.find("NEEDED"), std::string::npos);
  EXPECT_EQ(dynamic.find("libcuda.so"), std::string::npos) << dynamic;
}

}  // namespace
}  // namespace repipe::testing
