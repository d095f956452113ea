// launch/main.cc: the `repipe` command. Turns errors into exit codes: 2 for bad input, 1 otherwise.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "launch/build_info.h"
#include "launch/train_command.h"

namespace {

// First line of a message: libtorch errors append long C++ back-traces.
std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

int run(int argc, char** argv) {
  CLI::App app("repipe: pipeline-parallel DNN training that rebalances itself live", "repipe");
  app.set_version_flag("--version", repipe::version_line());
  app.require_subcommand(1);

  repipe::TrainCommand train_command;
  CLI::App* train = repipe::add_train_command(app, train_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
    std::fprintf(stderr, "repipe: error: %s (see --help)\n", error.what());
    return repipe::kUsageExitCode;
  }
  if (*train) return repipe::run_train_command(*train, train_command);
  return repipe::kUsageExitCode;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const repipe::UsageError& error) {
    std::fprintf(stderr, "repipe: error: %s\n", error.what());
    return repipe::kUsageExitCode;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "repipe: failed: %s\n", first_line(error.what()).c_str());
    return 1;
  }
}
