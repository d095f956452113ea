// End-to-end tests of `repipe datagen` and training on what it writes, as a user runs them:
// a CIFAR-10 folder of exact size, 2-rank pipelines whose loss falls on CIFAR-10 and BERT shards,
// a model learning from generic HDF5, `bench io` under mpirun with its per-rank and total
// utilisation, and bad input as one line and exit code 2 with nothing written.
#include <filesystem>
#include <fstream>
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
  EXPECT_NE(r.out.find("1,200 samples in 6 files"), std::string::npos) << r.out;
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

// The mean of a metrics.csv's losses over steps first..last.
double mean_loss(const fs::path& run, int first, int last) {
  const std::vector<std::string> loss = csv_column(run / "metrics.csv", 1);
  double sum = 0;
  for (int i = first; i <= last; ++i) sum += std::stod(loss.at(static_cast<std::size_t>(i)));
  return sum / (last - first + 1);
}

TEST_F(DatasetCliTest, BertShardsAndGenericHdf5TrainModels) {
  const fs::path bert = dir_ / "bert";
  CommandResult r =
      run_repipe("datagen --workload bert --samples 500 --seed 2 -o " + bert.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("600 samples in 2 files"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::is_regular_file(bert / "training" / "part-00000-of-00001.hdf5"));
  EXPECT_TRUE(fs::is_regular_file(bert / "test" / "part-00000-of-00001.hdf5"));
  const fs::path run = dir_ / "bert-run";
  r = run_command(mpirun_repipe(2, "train --model bert-tiny --dataset bert:" + bert.string() +
                                       " --steps 30 --batch-size 8 --optimizer adam --lr 0.002 "
                                       "--eval-every 30 --output " +
                                       run.string()));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(mean_loss(run, 26, 30), 0.9 * mean_loss(run, 1, 5)) << "the loss falls on BERT shards";

  const fs::path generic = dir_ / "generic";
  r = run_repipe("datagen --workload generic --shape 32 --classes 10 --samples 2000 -o " +
                 generic.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const fs::path mlp = dir_ / "mlp-run";
  r = run_repipe("train --model mlp --dataset hdf5:" + generic.string() +
                 " --steps 40 --batch-size 32 --lr 0.05 --output " + mlp.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(mean_loss(mlp, 36, 40), 0.85 * mean_loss(mlp, 1, 5)) << "and on generic HDF5";
  expect_usage_error("train --model small_cnn --steps 1 --dataset hdf5:" + generic.string(),
                     "dataset 'x': expected float32 [N, 3, 32, 32]");
}

TEST_F(DatasetCliTest, BenchIoReportsUtilisationPerRankAndInTotal) {
  const fs::path data = dir_ / "cifar";
  ASSERT_EQ(run_repipe("datagen --workload cifar10 --samples 600 -o " + data.string()).exit_code,
            0);
  const fs::path config = dir_ / "io.toml";
  std::ofstream(config) << "[dataset]\npath = \"cifar10:" << data.string()
                        << "\"\n[reader]\nbatch_size = 16\nreaders = 1\n[train]\nsteps = 20\n"
                           "compute_s = 0.004\n[checkpoint]\nsize = \"3MiB\"\n[output]\nfolder = \""
                        << (dir_ / "io").string() << "\"\n";
  const CommandResult r = run_command(mpirun_repipe(2, "bench io --config " + config.string()));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* key : {"au_percent=", "au_pass=", "samples_per_s=", "mb_per_s="}) {
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  }
  const std::vector<std::string> who = csv_column(dir_ / "io" / "io_summary.csv", 0);
  EXPECT_EQ(who, (std::vector<std::string>{"rank", "0", "1", "all"}));
  const std::vector<std::string> au = csv_column(dir_ / "io" / "io_summary.csv", 1);
  for (std::size_t i = 1; i < au.size(); ++i) {
    EXPECT_GT(std::stod(au[i]), 0);
    EXPECT_LE(std::stod(au[i]), 100.0 + 1e-9);
  }
  EXPECT_EQ(csv_column(dir_ / "io" / "io_steps.csv", 0).size(), 41u) << "20 steps of 2 ranks";
  const std::vector<std::string> bytes = csv_column(dir_ / "io" / "checkpoints.csv", 2);
  ASSERT_EQ(bytes.size(), 3u);
  EXPECT_EQ(std::stoll(bytes[1]) + std::stoll(bytes[2]), 3 << 20) << "the ranks' shares add up";
}

TEST_F(DatasetCliTest, BadInputIsOneLineAndExitCodeTwo) {
  const std::string o = " -o " + (dir_ / "x").string();
  expect_usage_error("datagen --workload imagenet --samples 10" + o, "expected cifar10|bert");
  expect_usage_error("datagen --workload generic --shape 3x0 --samples 10" + o, "flag --shape");
  expect_usage_error("datagen --workload bert --samples 4" + o, "--samples 5");
  expect_usage_error("datagen --workload cifar10" + o, "give exactly one");
  expect_usage_error("datagen --workload cifar10 --samples 10 --size 1MiB" + o, "give exactly one");
  expect_usage_error("datagen --workload cifar10 --samples 4" + o, "at least 5 training samples");
  expect_usage_error("datagen --workload cifar10 --size 10KiB" + o, "at least 5 training samples");
  EXPECT_FALSE(fs::exists(dir_ / "x" / "cifar-10-batches-bin"));
  expect_usage_error(
      "train --model small_cnn --steps 1 --dataset cifar10:" + (dir_ / "none").string(),
      "cifar-10-batches-bin");
  expect_usage_error("train --model small_cnn --steps 1 --dataset imagenet", "flag --dataset");
  expect_usage_error("train --model bert-tiny --steps 1 --dataset bert:" + (dir_ / "x").string(),
                     "no .hdf5 shards");
  const fs::path config = dir_ / "bad.toml";
  std::ofstream(config)
      << "[dataset]\npath = \"cifar10:x\"\n[reader]\nbatch_size = 4\nthreads = 2\n";
  expect_usage_error("bench io --config " + config.string(),
                     "bad.toml:5: reader.threads: unknown key");
  std::ofstream(config) << "[reader]\nbatch_size = 4\n[train]\ncompute_s = 0.1\n";
  expect_usage_error("bench io --config " + config.string(),
                     "dataset.path: expected a dataset such as cifar10:DIR (the key is missing)");
  expect_usage_error("bench checkpoint --size 1MiB --model mlp", "give one");
  ASSERT_EQ(run_repipe("datagen --workload cifar10 --samples 10" + o).exit_code, 0);
  expect_usage_error("train --model bert-tiny --steps 1 --dataset cifar10:" + (dir_ / "x").string(),
                     "3x32x32 images and 10 classes");
}

}  // namespace
}  // namespace repipe::testing
