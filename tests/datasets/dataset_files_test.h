// tests/datasets/dataset_files_test.h: the fixture of the format tests: a fresh temporary folder
// per test, the UsageError message of a call, and Debian's python3 for h5py and numpy checks.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"

namespace repipe::testing {

class DatasetFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("repipe-" + std::string(test->name()) + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The message of the UsageError `f` throws, or "no error".
  static std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  }

  std::filesystem::path dir_;
};

// Debian's python3 (scripts/install-deps.sh installs python3-h5py, which brings numpy), not
// whatever a virtual environment puts first on PATH.
inline constexpr const char* kPython = "/usr/bin/python3";

// Whether kPython imports `module`.
inline bool python_has(const std::string& module) {
  return std::system(
             (std::string(kPython) + " -c 'import " + module + "' >/dev/null 2>&1").c_str()) == 0;
}

// Runs `code` as a script with `args`; its exit status.
inline int run_python(const std::filesystem::path& script, const std::string& code,
                      const std::string& args) {
  std::ofstream(script) << code;
  return std::system((std::string(kPython) + " " + script.string() + " " + args).c_str());
}

}  // namespace repipe::testing
