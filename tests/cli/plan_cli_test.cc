// End-to-end tests of `repipe plan`: its plan trains as it is under mpirun, a slowed device
// gets less work, and bad input and impossible memory limits are reported as such.
#include <filesystem>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

const std::string kVgg16 =
    std::string(REPIPE_SOURCE_DIR) + "/configs/profiles/pipedream-vgg16-graph.txt";

using PlanCliTest = CommandTest;

TEST_F(PlanCliTest, ThePlanTrainsAsItIsUnderMpirun) {
  const std::string plan = (dir_ / "plan.toml").string();
  CommandResult planned = run_repipe("plan --profile " + kVgg16 +
                                     " --stages 3 --microbatches 4 --bandwidth 12GB/s -o " + plan);
  ASSERT_EQ(planned.exit_code, 0) << planned.err;
  EXPECT_NE(planned.out.find("predicted: step"), std::string::npos) << planned.out;
  // VGG16's emulated stages hold ~60 GiB of its profile's activations: the suggested command
  // shrinks them to a sixteenth of this host's memory.
  EXPECT_NE(planned.out.find("train it: scripts/mpirun.sh -np 3 build/launch/repipe train --plan " +
                             plan + " --bytes-scale 0."),
            std::string::npos)
      << planned.out;
  CommandResult trained = run_command(
      mpirun_repipe(3, "train --plan " + plan +
                           " --time-scale 0.002 --bytes-scale 0.00001 --steps 2 --threads 1 "
                           "--output " +
                           (dir_ / "run").string()));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_NE(trained.out.find("pipeline: 3 stages"), std::string::npos) << trained.out;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run" / "metrics.csv"));
}

// The first stage of a plan, as "first_block-last_block" of the printed table's first row.
std::string first_stage_blocks(const std::string& out) {
  std::size_t row = out.find("\n0 ");
  if (row == std::string::npos) return "";
  std::istringstream line(out.substr(row + 1, out.find('\n', row + 1) - row - 1));
  std::string stage, device, blocks;
  line >> stage >> device >> blocks;
  return blocks;
}

TEST_F(PlanCliTest, ASlowedDeviceGetsFewerBlocks) {
  CommandResult even = run_repipe("plan --profile " + kVgg16 + " --stages 4 --bandwidth inf");
  CommandResult slow =
      run_repipe("plan --profile " + kVgg16 + " --stages 4 --bandwidth inf --speed 0:0.5");
  ASSERT_EQ(even.exit_code, 0) << even.err;
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  auto last_block = [](const std::string& blocks) {
    return std::stoi(blocks.substr(blocks.find('-') + 1));
  };
  EXPECT_LT(last_block(first_stage_blocks(slow.out)), last_block(first_stage_blocks(even.out)))
      << even.out << slow.out;
}

TEST_F(PlanCliTest, SimulateWritesThePredictedTimelineOfAPlan) {
  const std::string plan = (dir_ / "plan.toml").string();
  ASSERT_EQ(
      run_repipe("plan --profile " + kVgg16 + " --stages 4 --microbatches 6 -o " + plan).exit_code,
      0);
  const std::string trace = (dir_ / "predicted.json").string();
  CommandResult r = run_repipe("simulate --plan " + plan + " --profile " + kVgg16 +
                               " --bandwidth 12GB/s -o " + trace);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("predicted step"), std::string::npos) << r.out;
  std::string json = read_text(trace);
  std::size_t stages = 0;
  for (std::size_t at = json.find("thread_name"); at != std::string::npos;
       at = json.find("thread_name", at + 1)) {
    ++stages;
  }
  EXPECT_EQ(stages, 4u);
  // One forward per micro-batch per stage: 6 x 4 "F" events.
  std::size_t forwards = 0;
  for (int s = 0; s < 4; ++s) {
    for (int i = 0; i < 6; ++i) {
      if (json.find("\"name\":\"" + std::to_string(s) + "F" + std::to_string(i) + "\"") !=
          std::string::npos) {
        ++forwards;
      }
    }
  }
  EXPECT_EQ(forwards, 24u);
  // A plan that does not cover the profile's blocks.
  CommandResult wrong = run_repipe("simulate --plan " + std::string(REPIPE_SOURCE_DIR) +
                                   "/configs/plans/mlp-4stages.toml --profile " + kVgg16);
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
}

TEST_F(PlanCliTest, BadInputExits2AndImpossibleMemoryExits1WithTheSmallestThatFits) {
  CommandResult neither = run_repipe("plan --profile " + kVgg16);
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_NE(neither.err.find("exactly one of --stages"), std::string::npos) << neither.err;
  CommandResult too_many = run_repipe("plan --profile " + kVgg16 + " --stages 100");
  EXPECT_EQ(too_many.exit_code, 2) << too_many.err;
  CommandResult bad_speed = run_repipe("plan --profile " + kVgg16 + " --stages 2 --speed 5:2");
  EXPECT_EQ(bad_speed.exit_code, 2);
  EXPECT_NE(bad_speed.err.find("--speed"), std::string::npos) << bad_speed.err;
  CommandResult bad_memory = run_repipe("plan --profile " + kVgg16 + " --stages 2 --memory 16gb");
  EXPECT_EQ(bad_memory.exit_code, 2);
  EXPECT_NE(bad_memory.err.find("--memory"), std::string::npos) << bad_memory.err;
  CommandResult tight = run_repipe("plan --profile " + kVgg16 + " --stages 2 --memory 1MiB");
  EXPECT_EQ(tight.exit_code, 1) << tight.err;
  EXPECT_NE(tight.err.find("the smallest memory that fits is"), std::string::npos) << tight.err;
}

}  // namespace
}  // namespace repipe::testing
