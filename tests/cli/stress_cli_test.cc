// End-to-end tests of `repipe stress` as the interference collector runs it: a start line, a
// report line and a whole key=value report file, also when SIGTERM ends the run early; bad
// flags are one line naming the flag and exit code 2.
#include <string>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

using StressCliTest = CommandTest;

// The value of `key=` in key=value lines (or on one line of such pairs).
double value_of(const std::string& text, const std::string& key) {
  for (std::size_t at = text.find(key + "="); at != std::string::npos;
       at = text.find(key + "=", at + 1)) {
    if (at == 0 || text[at - 1] == '\n' || text[at - 1] == ' ') {
      return std::stod(text.substr(at + key.size() + 1));
    }
  }
  ADD_FAILURE() << "no " << key << "= in:\n" << text;
  return -1;
}

TEST_F(StressCliTest, RunsAndWritesItsReport) {
  const std::filesystem::path report = dir_ / "sub" / "stress.txt";
  CommandResult r =
      run_repipe("stress --kind compute --intensity 1 --seconds 0.3 --report " + report.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("stress: started pid=", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nstress: kind=compute intensity=1.00 threads=1 seconds="),
            std::string::npos)
      << r.out;
  EXPECT_GT(value_of(r.out, "gflops"), 0);
  const std::string text = read_text(report);
  EXPECT_EQ(text.rfind("version=1\n", 0), 0u) << text;
  EXPECT_NE(text.find("\nkind=compute\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nstopped_early=0\n"), std::string::npos) << text;
  EXPECT_GT(value_of(text, "gflops"), 0);
  EXPECT_EQ(value_of(text, "gbps"), 0);
  EXPECT_EQ(value_of(text, "threads"), 1);
}

TEST_F(StressCliTest, SigtermStopsEarlyAndLeavesAWholeReport) {
  const std::filesystem::path report = dir_ / "stress.txt";
  const std::filesystem::path out = dir_ / "out.txt";
  // Start a 60 s memory stress, wait (at most 20 s) for its start line, then SIGTERM it.
  const std::string script =
      repipe_binary() + " stress --kind memory --intensity 0.5 --seconds 60 --report " +
      report.string() + " >" + out.string() + " & pid=$!; " +
      "for i in $(seq 200); do grep -q started " + out.string() +
      " && break; sleep 0.1; done; sleep 0.2; kill -TERM $pid; wait $pid; echo exit=$?";
  CommandResult r = run_command("sh -c '" + script + "'");
  EXPECT_NE(r.out.find("exit=0"), std::string::npos) << r.out << r.err;
  const std::string printed = read_text(out);
  EXPECT_NE(printed.find("(stopped early)"), std::string::npos) << printed;
  const std::string text = read_text(report);
  ASSERT_EQ(text.rfind("version=1\n", 0), 0u) << text;
  EXPECT_NE(text.find("\nstopped_early=1\n"), std::string::npos) << text;
  EXPECT_LT(value_of(text, "seconds"), 50);
  EXPECT_GT(value_of(text, "gbps"), 0);  // it ran 0.2 s at half intensity before the signal
  EXPECT_EQ(text.back(), '\n');          // the whole file: its last line is complete
}

TEST_F(StressCliTest, BadFlagsAreOneLineNamingTheFlag) {
  const std::string ok = "stress --kind compute --seconds 0.1 ";
  expect_usage_error(ok + "--intensity 1.5", "--intensity");
  expect_usage_error(ok + "--intensity 0.5 --threads 0", "--threads");
  expect_usage_error(ok + "--intensity 0.5 --cores 0,4096", "--cores");
  expect_usage_error(ok + "--intensity 0.5 --device tpu", "--device");
  expect_usage_error(ok + "--intensity 0.5 --device cuda:99", "no CUDA device");
  expect_usage_error("stress --kind heavy --intensity 0.5 --seconds 1", "--kind");
  expect_usage_error("stress --kind memory --intensity 0.5 --seconds 0", "--seconds");
  expect_usage_error("stress --kind memory --intensity 0.5", "--seconds");  // missing
}

}  // namespace
}  // namespace repipe::testing
