// End-to-end tests of `repipe workload synth` as a user runs it: DynWork's files with their
// columns, the reference arrivals, one folder per preset for `all`, InputLen from a sample, and
// bad input as one line, exit code 2 and no folder left behind.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

namespace fs = std::filesystem;

std::string first_line(const fs::path& path) {
  const std::string text = read_text(path);
  return text.substr(0, text.find('\n'));
}

using WorkloadCliTest = CommandTest;

TEST_F(WorkloadCliTest, SynthWritesDynWorksFilesWithTheReferenceArrivals) {
  const fs::path out = dir_ / "two";
  CommandResult r =
      run_repipe("workload synth --preset two_modal --trace worldcup -o " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("two_modal: 200 jobs, 2 modalities, rate 36.36/s, interval 110.0 ms"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(first_line(out / "jobs.bucketed.csv"), "JobId,InputLen,Length,Admitted,BucketIdx");
  EXPECT_EQ(count_lines(out / "jobs.bucketed.csv"), 201u);
  const std::vector<std::string> admitted = csv_column(out / "jobs.bucketed.csv", 3);
  EXPECT_EQ(admitted[1], "0.0000");
  EXPECT_EQ(admitted.back(), "4387.7778");
  EXPECT_EQ(first_line(out / "buckets.csv"),
            "BucketIdx,BucketStart,BucketEnd,BinIdx,BinStart,BinEnd,BinValue");
  EXPECT_EQ(count_lines(out / "buckets.csv"), 21u);  // 10 bins x 2 modalities
  EXPECT_EQ(csv_column(out / "setting.csv", 1), (std::vector<std::string>{"task", "two_modal"}));
  EXPECT_TRUE(fs::is_regular_file(out / "jobs.png"));
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
  // The shipped sample (data/workload-sample): InputLen drawn from it, its batch curve copied.
  for (const std::string& cell : csv_column(out / "jobs.bucketed.csv", 1))
    EXPECT_FALSE(cell.empty());
  EXPECT_EQ(read_text(out / "latencies.csv").substr(0, 26), "BatchSize,InferenceLatency");
  EXPECT_EQ(count_lines(out / "latencies.csv"), 17u);
}

TEST_F(WorkloadCliTest, AllPresetsGoIntoAFolderEachAndASampleGivesInputLengths) {
  std::ofstream(dir_ / "requests.csv") << "InputLen,InferenceLatency,OutputLen\n7,12.5,0\n9,13,0\n";
  CommandResult r = run_repipe(
      "workload synth --preset all --jobs 64 --trace constant --no-plot "
      "--arrivals gamma:2 --sample " +
      dir_.string() + " -o " + (dir_ / "all").string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* preset : {"one_modal", "eight_modal", "std_0.5", "left_2_right_0.5"}) {
    EXPECT_EQ(count_lines(dir_ / "all" / preset / "jobs.bucketed.csv"), 65u) << preset;
  }
  EXPECT_FALSE(fs::exists(dir_ / "all/std_1/latencies.csv"));  // the sample has no batch curve
  const std::vector<std::string> input = csv_column(dir_ / "all/std_1/jobs.bucketed.csv", 1);
  for (std::size_t i = 1; i < input.size(); ++i) EXPECT_TRUE(input[i] == "7" || input[i] == "9");
  EXPECT_EQ(csv_column(dir_ / "all/std_1/setting.csv", 11),
            (std::vector<std::string>{"arrivals", "gamma:2"}));
}

// A sample measured on a zoo model, then a workload from it, as DynWork's real-dataset generator.
TEST_F(WorkloadCliTest, SampleMeasuresAZooModelAndRealBuildsAWorkloadFromIt) {
  const fs::path sample = dir_ / "sample";
  CommandResult r = run_repipe(
      "workload sample --model gpt2-tiny --num 30 --max-batch 3 "
      "--max-new-tokens 4 -o " +
      sample.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(first_line(sample / "requests.csv"), "InputLen,InferenceLatency,OutputLen");
  EXPECT_GE(count_lines(sample / "requests.csv"), 26u);  // 30 less a few outliers at most
  EXPECT_EQ(csv_column(sample / "batch.csv", 0),
            (std::vector<std::string>{"BatchSize", "1", "2", "3"}));
  for (const std::string& cell : csv_column(sample / "requests.csv", 2)) {
    if (cell != "OutputLen") {
      EXPECT_TRUE(std::stoi(cell) >= 1 && std::stoi(cell) <= 4) << cell;
    }
  }

  const fs::path out = dir_ / "real";
  r = run_repipe("workload real --sample " + sample.string() + " --jobs 300 --no-plot -o " +
                 out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("real: 300 jobs, 2 modalities"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(out / "jobs.bucketed.csv"), 301u);
  EXPECT_EQ(csv_column(out / "latencies.csv", 0), csv_column(sample / "batch.csv", 0));
  EXPECT_EQ(csv_column(out / "setting.csv", 5), (std::vector<std::string>{"job_num", "300"}));
  EXPECT_EQ(csv_column(out / "setting.csv", 4), (std::vector<std::string>{"sigma", "0.5 2"}));
  EXPECT_EQ(csv_column(out / "setting.csv", 13), (std::vector<std::string>{"min_ms", ""}));

  expect_usage_error("workload sample --model nope -o " + (dir_ / "x").string(), "nope");
  expect_usage_error("workload sample --model bert-tiny --max-len 4096 -o " + (dir_ / "x").string(),
                     "flags --min-len/--max-len");
  expect_usage_error(
      "workload real --sample " + (dir_ / "nowhere").string() + " -o " + (dir_ / "x").string(),
      "requests.csv");
  EXPECT_FALSE(fs::exists(dir_ / "x"));
}

TEST_F(WorkloadCliTest, BadInputIsOneLineExitCodeTwoAndNoFolder) {
  const fs::path out = dir_ / "bad";
  const std::string o = " -o " + out.string();
  expect_usage_error("workload synth --preset nine_modal" + o, "unknown preset 'nine_modal'");
  expect_usage_error("workload synth --preset one_modal --rate-downgrade 0" + o,
                     "flag --rate-downgrade");
  expect_usage_error("workload synth --preset eight_modal --jobs 4" + o,
                     "4 jobs cannot fill the 8 modalities");
  std::ofstream(dir_ / "empty.csv") << "time,count\n";
  expect_usage_error(
      "workload synth --preset one_modal --trace " + (dir_ / "empty.csv").string() + o,
      "an empty trace");
  std::ofstream(dir_ / "broken.csv") << "time,count\n0,1\n1\n";
  expect_usage_error(
      "workload synth --preset one_modal --trace " + (dir_ / "broken.csv").string() + o,
      "broken.csv:3");
  expect_usage_error(
      "workload synth --preset one_modal --trace azure:" + (dir_ / "none.csv").string() + o,
      "none.csv");
  expect_usage_error("workload synth --preset one_modal --arrivals burst" + o, "flag --arrivals");
  expect_usage_error("workload synth --preset one_modal --latency-range 100,10" + o,
                     "flag --latency-range");
  expect_usage_error(
      "workload synth --preset one_modal --sample " + (dir_ / "nowhere").string() + o,
      "requests.csv");
  expect_usage_error("workload", "expected a subcommand: synth, real or sample");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
}

}  // namespace
}  // namespace repipe::testing
