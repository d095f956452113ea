// End-to-end test of `repipe profile interference` as a user runs it, beside real `repipe
// stress` co-runners. Serial (ctest RUN_SERIAL): a slowdown measured while other tests load the
// machine would measure them too.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

using InterferenceCliTest = CommandTest;

// A small collection as a user runs it: the documented header, one row per repeat,
// configuration and probe (the "none" configuration included), and a compute co-runner on the
// probe's own core takes a visible share of it while the alone run beside "none" does not.
// The probes last several milliseconds, longer than a scheduler slice: a shorter one runs whole
// inside its slices, and its median run sees no co-runner at all.
TEST_F(InterferenceCliTest, CollectsADatasetBesideRealCoRunners) {
  const std::filesystem::path csv = dir_ / "interference-small.csv";
  CommandResult r = run_repipe(
      "profile interference --probes mlp@2048,small_cnn:1-2@16 --kinds compute --intensities 1 "
      "--corunners 1 --placements same,other --repeats 2 --runs 3 --measure 0.05 -o " +
      csv.string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("wrote " + csv.string() + " (12 rows)"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(csv.string() + ".partial"));
  const std::vector<std::string> lines = lines_of(read_text(csv));
  ASSERT_EQ(lines.size(), 13u);
  EXPECT_EQ(lines[0].substr(0, lines[0].find(",kind")),
            "probe,model,first_block,last_block,batch_size");
  EXPECT_NE(lines[0].find(",load_compute_fraction,load_memory_fraction,"), std::string::npos);
  EXPECT_EQ(lines[0].substr(lines[0].rfind(",colocated_ms")), ",colocated_ms,slowdown");

  const std::vector<std::string> probe = csv_column(csv, 0);
  const std::vector<std::string> placement = csv_column(csv, 8);
  const std::vector<std::string> kind = csv_column(csv, 5);
  const std::vector<std::string> slowdown = csv_column(csv, 36);
  EXPECT_EQ(std::count(probe.begin(), probe.end(), "small_cnn[1-2]@b16"), 6);
  for (std::size_t row = 1; row < slowdown.size(); ++row) {
    const double s = std::stod(slowdown[row]);
    if (kind[row] == "none") {
      EXPECT_LT(std::abs(s - 1), 0.35) << lines[row];
    }
    // One core shared with a busy co-runner: the scheduler gives the probe about half.
    if (kind[row] == "compute" && placement[row] == "same") {
      EXPECT_GT(s, 1.3) << lines[row];
    }
  }
}

}  // namespace
}  // namespace repipe::testing
