// End-to-end tests of `repipe profile` as a user runs it: a measured profile and a converted
// PipeDream graph are CSVs with the documented header, and bad input is one line and exit code 2.
#include <algorithm>
#include <filesystem>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

constexpr const char* kHeader =
    "block,name,forward_ms,backward_ms,output_bytes,param_bytes,activation_bytes,device,"
    "batch_size,precision";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

using ProfileCliTest = CommandTest;

TEST_F(ProfileCliTest, MeasuresAZooModelIntoACsv) {
  std::filesystem::path csv = dir_ / "sub" / "mlp.csv";
  CommandResult r =
      run_repipe("profile --model mlp --batch-size 8 --repeats 2 --warmup 1 -o " + csv.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("mlp.fc8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total"), std::string::npos) << r.out;
  std::vector<std::string> lines = lines_of(read_text(csv));
  ASSERT_EQ(lines.size(), 9u);  // header + 8 blocks, no comment lines
  EXPECT_EQ(lines[0], kHeader);
  EXPECT_EQ(lines[1].rfind("0,mlp.fc1,", 0), 0u) << lines[1];
  EXPECT_NE(lines[1].find(",cpu,8,fp32"), std::string::npos) << lines[1];
  // The CSV is a profile repipe reads: convert it back.
  CommandResult again = run_repipe("profile --profile " + csv.string());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("8 blocks, batch 8, device cpu, fp32"), std::string::npos) << again.out;
}

TEST_F(ProfileCliTest, ConvertsAPipeDreamGraphAndSaysHowItWasLinearised) {
  std::filesystem::path csv = dir_ / "resnet50.csv";
  CommandResult r = run_repipe("profile --profile " + std::string(REPIPE_SOURCE_DIR) +
                               "/configs/profiles/pipedream-resnet50-graph.txt -o " + csv.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("linearised a PipeDream profile graph"), std::string::npos) << r.out;
  std::vector<std::string> lines = lines_of(read_text(csv));
  ASSERT_EQ(lines.size(), 40u);  // header + 39 blocks
  EXPECT_EQ(lines[0], kHeader);
  // Cut after every node instead: one block per node but the input.
  r = run_repipe("profile --profile " + std::string(REPIPE_SOURCE_DIR) +
                 "/configs/profiles/pipedream-resnet50-graph.txt --cuts every-node -o " +
                 csv.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("into 176 blocks, cutting after every node"), std::string::npos) << r.out;
  EXPECT_EQ(lines_of(read_text(csv)).size(), 177u);
}

TEST_F(ProfileCliTest, BadInputIsOneLineAndExitCodeTwo) {
  std::string out = " -o " + (dir_ / "x.csv").string();
  expect_usage_error("profile" + out, "expected --model NAME");
  expect_usage_error("profile --model mlp --profile p.csv" + out, "exclude each other");
  expect_usage_error("profile --model nope" + out, "unknown model 'nope'");
  expect_usage_error("profile --model mlp --batch-size 0" + out, "flag --batch-size");
  expect_usage_error("profile --model mlp --precision fp16" + out, "flag --precision");
  expect_usage_error("profile --model mlp --device cuda:99" + out, "flag --device");
  expect_usage_error("profile --profile " + (dir_ / "absent.csv").string() + out,
                     "no such profile file");
  expect_usage_error("profile --profile p.csv --batch-size 4" + out, "flag --batch-size: measures");
  expect_usage_error("profile --profile p.csv --cuts some" + out,
                     "flag --cuts: expected one-tensor or every-node, got 'some'");
  expect_usage_error("profile --model mlp --cuts every-node" + out, "flag --cuts: linearises");
  std::ofstream(dir_ / "file") << "not a folder";
  expect_usage_error("profile --model mlp -o " + (dir_ / "file" / "x.csv").string(), "file");
  expect_usage_error("profile --model mlp -o " + dir_.string(), "is a folder");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.csv"));  // nothing written on bad input

  const std::string interference = "profile interference" + out;
  expect_usage_error(interference + " --probes mlp", "probe 'mlp': no batch size");
  expect_usage_error(interference + " --probes mlp:3-1@8", "a bad block range");
  expect_usage_error(interference + " --probes mlp:0-40@8", "outside its 0-7");
  expect_usage_error(interference + " --kinds cache", "expected compute, memory or mixed");
  expect_usage_error(interference + " --placements near", "expected same | other");
  expect_usage_error(interference + " --intensities 0", "--intensities");
  expect_usage_error(interference + " --probe-core 4096", "flag --probe-core: CPU 4096");
  expect_usage_error(interference + " --device cuda:0", "only cpu is collected so far");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.csv"));
}

}  // namespace
}  // namespace repipe::testing
