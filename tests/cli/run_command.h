// tests/cli/run_command.h: run the real `repipe` binary from a test and capture what it says.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <algorithm>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace repipe::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The binary under test: ctest passes its path in REPIPE_BIN.
inline std::string repipe_binary() {
  const char* bin = std::getenv("REPIPE_BIN");
  return bin ? bin : "repipe";
}

// Runs a shell command line and captures its output.
inline CommandResult run_command(const std::string& command_line) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("repipe_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string command =
      command_line + " >" + (dir / "out").string() + " 2>" + (dir / "err").string() + " </dev/null";
  int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_text(dir / "out");
  result.err = read_text(dir / "err");
  std::filesystem::remove_all(dir);
  return result;
}

// Runs `repipe <args>` through the shell (args are pasted as written).
inline CommandResult run_repipe(const std::string& args) {
  return run_command(repipe_binary() + " " + args);
}

// `mpirun -np <ranks> repipe <args>` with the repo's mpirun flags (scripts/mpirun.sh).
inline std::string mpirun_repipe(int ranks, const std::string& args) {
  return std::string(REPIPE_SOURCE_DIR) + "/scripts/mpirun.sh -np " + std::to_string(ranks) + " " +
         repipe_binary() + " " + args;
}

// Column `column` of a CSV file, header first.
inline std::vector<std::string> csv_column(const std::filesystem::path& path, std::size_t column) {
  std::istringstream in(read_text(path));
  std::vector<std::string> values;
  for (std::string line; std::getline(in, line);) {
    std::stringstream row(line);
    std::string cell;
    for (std::size_t i = 0; i <= column && std::getline(row, cell, ','); ++i) {
    }
    values.push_back(cell);
  }
  return values;
}

inline std::size_t count_lines(const std::filesystem::path& path) {
  std::string text = read_text(path);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

inline std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A test with its own empty folder dir_ (removed afterwards), named after the test.
class CommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("repipe_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A bad command: exit code 2 and exactly one line on stderr that contains `expected`.
  void expect_usage_error(const std::string& args, const std::string& expected) {
    CommandResult r = run_repipe(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << args << "\nstderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\nstderr: " << r.err;
  }

  std::filesystem::path dir_;
};

}  // namespace repipe::testing
