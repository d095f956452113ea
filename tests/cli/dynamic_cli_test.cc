// End-to-end tests of `repipe train --dynamic` under mpirun: a slowed rank is detected, blocks
// move off it and back, and the numbers never change. Their decisions depend on measured times,
// so ctest runs them alone (RUN_SERIAL): other tests sharing the 2 cores would blur the speeds.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

using DynamicCliTest = CommandTest;

// The emulated VGG16 (its profile's times x 5%, sizes x 0.1%) on its balanced 3-stage plan, as
// `repipe train` arguments; the plan is written to `plan`.
std::string emulated_vgg16_on_3_stages(const std::filesystem::path& plan,
                                       const std::string& schedule) {
  CommandResult planned = run_repipe("plan --profile " + std::string(REPIPE_SOURCE_DIR) +
                                     "/configs/profiles/pipedream-vgg16-graph.txt --stages 3 "
                                     "--microbatches 4 --microbatch-size 2 --schedule " +
                                     schedule + " -o " + plan.string());
  EXPECT_EQ(planned.exit_code, 0) << planned.err;
  return "train --plan " + plan.string() +
         " --time-scale 0.05 --bytes-scale 0.001 --threads 1 --optimizer adamw ";
}

// Rank 1 slows down 3x on steps 10..24: the detector sees it in the first whole window, blocks
// move off rank 1 and back to the starting plan when it recovers, and the numbers do not change:
// every loss is the static run's, and so are the final parameters (the loss of one more step
// from each run's last checkpoint).
TEST_F(DynamicCliTest, DynamicRepartitionFollowsASlowRankAndKeepsEveryNumber) {
  const std::string model = emulated_vgg16_on_3_stages(dir_ / "plan.toml", "1f1b-flush");
  const std::string args = model +
                           "--steps 40 --monitor-every 5 --checkpoint-every 40 "
                           "--inject rank=1,factor=3,from=10,to=25 --output ";
  CommandResult fixed = run_command(mpirun_repipe(3, args + (dir_ / "static").string()));
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "static" / "repartitions.csv"));
  CommandResult dynamic =
      run_command(mpirun_repipe(3, args + (dir_ / "dynamic").string() + " --dynamic"));
  ASSERT_EQ(dynamic.exit_code, 0) << dynamic.err;
  EXPECT_NE(dynamic.out.find("step 16: rank 1 slowed"), std::string::npos) << dynamic.out;
  const auto repartitions = dir_ / "dynamic" / "repartitions.csv";
  std::vector<std::string> causes = csv_column(repartitions, 3);
  ASSERT_EQ(causes.size(), 3u) << dynamic.out;  // header, the move and the move back
  EXPECT_EQ(causes[1].rfind("rank 1 slowed", 0), 0u) << causes[1];
  EXPECT_EQ(causes[2], "rank 1 back to normal");
  EXPECT_EQ(csv_column(repartitions, 1), (std::vector<std::string>{"decided_step", "15", "30"}));
  EXPECT_EQ(csv_column(repartitions, 4)[1], csv_column(repartitions, 5)[2]);  // the initial plan
  EXPECT_EQ(csv_column(dir_ / "dynamic" / "metrics.csv", 1),
            csv_column(dir_ / "static" / "metrics.csv", 1));
  EXPECT_EQ(count_of(read_text(dir_ / "dynamic" / "trace.json"), "\"REPARTITION\""), 2u * 3u);

  std::vector<std::string> next_loss;
  for (const char* run : {"static", "dynamic"}) {
    CommandResult one = run_repipe("train --model emulated:" + std::string(REPIPE_SOURCE_DIR) +
                                   "/configs/profiles/pipedream-vgg16-graph.txt --time-scale 0.05 "
                                   "--bytes-scale 0.001 --threads 1 --optimizer adamw "
                                   "--batch-size 8 --microbatches 4 --steps 41 --resume " +
                                   (dir_ / run / "checkpoints").string() + " --output " +
                                   (dir_ / run / "next").string());
    ASSERT_EQ(one.exit_code, 0) << one.err;
    next_loss.push_back(csv_column(dir_ / run / "next" / "metrics.csv", 1).at(1));
  }
  EXPECT_EQ(next_loss[0], next_loss[1]);
}

// Under weight stashing a decided move waits for the pipeline to drain: the running schedule is
// cut short and a new one starts after the move.
TEST_F(DynamicCliTest, DynamicRepartitionDrainsAWeightStashingPipeline) {
  CommandResult r = run_command(mpirun_repipe(
      3, emulated_vgg16_on_3_stages(dir_ / "plan.toml", "1f1b-stash") +
             "--steps 30 --monitor-every 5 --inject rank=1,factor=3,from=10,to=25 --dynamic "
             "--output " +
             (dir_ / "run").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> steps = csv_column(dir_ / "run" / "repartitions.csv", 0);
  std::vector<std::string> decided = csv_column(dir_ / "run" / "repartitions.csv", 1);
  ASSERT_GE(steps.size(), 2u) << r.out;
  // Decided after step 15; with 4 micro-batches and 3 stages the schedule drains after step 16.
  EXPECT_EQ(decided[1], "15");
  EXPECT_EQ(steps[1], "17");
  std::vector<std::string> losses = csv_column(dir_ / "run" / "metrics.csv", 1);
  ASSERT_EQ(losses.size(), 31u);
  for (std::size_t i = 1; i < losses.size(); ++i) EXPECT_TRUE(std::isfinite(std::stod(losses[i])));
}

}  // namespace
}  // namespace repipe::testing
