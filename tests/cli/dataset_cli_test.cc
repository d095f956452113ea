// End-to-end tests of `repipe datagen` and training on what it writes, as a user runs them:
// a CIFAR-10 folder of exact size, a 2-rank pipeline whose loss falls on it, and bad input as one
// line and exit code 2 with nothing written.
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

namespace fs = std::filesystem;

using DatasetCliTest = CommandTest;

TEST_F(DatasetCliTest, DatagenWritesCifar10AndAPipelineLearnsFromIt) {
  // --size is exact to one record: 1 MiB holds 341 records of 3,073 bytes.
  CommandResult r =
      run_repipe("datagen --workload cifar10 --size 1MiB -o " + (dir_ / "sized").string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::uintmax_t total = 0;
  for (const auto& file : fs::directory_iterator(dir_ / "sized/cifar-10-batches-bin")) {
    if (file.path().extension() == ".bin") total += fs::file_size(file.path());
  }
  EXPECT_EQ(total, 341u * 3073u);

  const fs::path data = dir_ / "cifar";
  r = run_repipe("datagen --workload cifar10 --samples 1000 --seed 3 -o " + data.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1,000 training and 200 test samples"), std::string::npos) << r.out;
  const fs::path run = dir_ / "run";
  r = run_command(mpirun_repipe(2, "train --model small_cnn --dataset cifar10:" + data.string() +
                                       " --steps 40 --batch-size 32 --lr 0.05 --eval-every 40 "
                                       "--output " +
                                       run.string()));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<std::string> loss = csv_column(run / "metrics.csv", 1);
  ASSERT_EQ(loss.size(), 41u);
  double first = 0, last = 0;
  for (int i = 1; i <= 5; ++i) first += std::stod(loss[static_cast<std::size_t>(i)]);
  for (int i = 36; i <= 40; ++i) last += std::stod(loss[static_cast<std::size_t>(i)]);
  EXPECT_LT(last, 0.85 * first) << "the loss falls on generated CIFAR-10";
}

TEST_F(DatasetCliTest, BadInputIsOneLineAndExitCodeTwo) {
  const std::string o = " -o " + (dir_ / "x").string();
  expect_usage_error("datagen --workload imagenet --samples 10" + o, "expected cifar10");
  expect_usage_error("datagen --workload cifar10" + o, "give exactly one");
  expect_usage_error("datagen --workload cifar10 --samples 10 --size 1MiB" + o, "give exactly one");
  expect_usage_error("datagen --workload cifar10 --samples 4" + o, "at least 5 training samples");
  expect_usage_error("datagen --workload cifar10 --size 10KiB" + o, "at least 5 training samples");
  EXPECT_FALSE(fs::exists(dir_ / "x" / "cifar-10-batches-bin"));
  expect_usage_error(
      "train --model small_cnn --steps 1 --dataset cifar10:" + (dir_ / "none").string(),
      "cifar-10-batches-bin");
  expect_usage_error("train --model small_cnn --steps 1 --dataset imagenet", "flag --dataset");
  ASSERT_EQ(run_repipe("datagen --workload cifar10 --samples 10" + o).exit_code, 0);
  expect_usage_error("train --model bert-tiny --steps 1 --dataset cifar10:" + (dir_ / "x").string(),
                     "3x32x32 images and 10 classes");
}

}  // namespace
}  // namespace repipe::testing
