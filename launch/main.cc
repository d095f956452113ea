// launch/main.cc: the `repipe` command. Turns errors into exit codes: 2 for bad input, 1 otherwise.
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/infeasible.h"
#include "launch/allocate_command.h"
#include "launch/bench_command.h"
#include "launch/build_info.h"
#include "launch/datagen_command.h"
#include "launch/interference_command.h"
#include "launch/mpi_session.h"
#include "launch/optimize_command.h"
#include "launch/plan_command.h"
#include "launch/predictor_command.h"
#include "launch/profile_command.h"
#include "launch/simulate_command.h"
#include "launch/stress_command.h"
#include "launch/train_command.h"
#include "launch/workload_command.h"

namespace {

// First line of a message: libtorch errors append long C++ back-traces.
std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

int run(int argc, char** argv, const repipe::MpiSession* mpi) {
  CLI::App app("repipe: pipeline-parallel DNN training that rebalances itself live", "repipe");
  app.set_version_flag("--version", repipe::version_line());
  app.require_subcommand(1);

  repipe::TrainCommand train_command;
  CLI::App* train = repipe::add_train_command(app, train_command);
  repipe::ProfileCommand profile_command;
  CLI::App* profile = repipe::add_profile_command(app, profile_command);
  repipe::InterferenceCommand interference_command;
  CLI::App* interference = repipe::add_interference_command(*profile, interference_command);
  repipe::PlanCommand plan_command;
  CLI::App* plan = repipe::add_plan_command(app, plan_command);
  repipe::SimulateCommand simulate_command;
  CLI::App* simulate = repipe::add_simulate_command(app, simulate_command);
  repipe::StressCommand stress_command;
  CLI::App* stress = repipe::add_stress_command(app, stress_command);
  repipe::PredictorCommand predictor_command;
  CLI::App* predictor = repipe::add_predictor_command(app, predictor_command);
  repipe::DatagenCommand datagen_command;
  CLI::App* datagen = repipe::add_datagen_command(app, datagen_command);
  repipe::WorkloadCommand workload_command;
  CLI::App* workload = repipe::add_workload_command(app, workload_command);
  repipe::OptimizeCommand optimize_command;
  CLI::App* optimize = repipe::add_optimize_command(app, optimize_command);
  repipe::AllocateCommand allocate_command;
  CLI::App* allocate = repipe::add_allocate_command(app, allocate_command);
  repipe::BenchCommand bench_command;
  const repipe::BenchApps bench = repipe::add_bench_command(app, bench_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
    std::fprintf(stderr, "repipe: error: %s (see --help)\n", error.what());
    return repipe::kUsageExitCode;
  }
  if (*train) return repipe::run_train_command(*train, train_command, mpi);
  if (*interference) return repipe::run_interference_command(interference_command);
  if (*profile) return repipe::run_profile_command(profile_command);
  if (*plan) return repipe::run_plan_command(plan_command);
  if (*simulate) return repipe::run_simulate_command(simulate_command);
  if (*stress) return repipe::run_stress_command(stress_command);
  if (*predictor) return repipe::run_predictor_command(predictor_command);
  if (*workload) return repipe::run_workload_command(workload_command);
  if (*optimize) return repipe::run_optimize_command(optimize_command);
  if (*allocate) return repipe::run_allocate_command(allocate_command);
  if (*datagen) return repipe::run_datagen_command(datagen_command);
  if (*bench.io) return repipe::run_bench_io_command(bench_command, mpi);
  if (*bench.checkpoint) return repipe::run_bench_checkpoint_command(bench_command, mpi);
  return repipe::kUsageExitCode;
}

}  // namespace

// Under mpirun: every rank checks its input the same way before any communication, so a
// usage error is printed by rank 0 and every rank exits 2; any other failure is printed with
// its rank and ends the whole job at once (MPI_Abort), so no rank waits on a dead one.
int main(int argc, char** argv) {
  std::optional<repipe::MpiSession> mpi;
  try {
    if (repipe::launched_by_mpirun()) mpi.emplace(&argc, &argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "repipe: failed: %s\n", error.what());
    return 1;
  }
  const bool rank0 = !mpi || mpi->rank() == 0;
  const std::string who =
      mpi && mpi->size() > 1 ? "rank " + std::to_string(mpi->rank()) + ": " : "";
  try {
    return run(argc, argv, mpi ? &*mpi : nullptr);
  } catch (const repipe::UsageError& error) {
    if (rank0) std::fprintf(stderr, "repipe: error: %s\n", error.what());
    return repipe::kUsageExitCode;
  } catch (const repipe::Infeasible& error) {
    if (rank0) std::fprintf(stderr, "repipe: infeasible: %s\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "repipe: %sfailed: %s\n", who.c_str(), first_line(error.what()).c_str());
    std::fflush(stderr);
    if (mpi && mpi->size() > 1) mpi->abort(1);
    return 1;
  }
}
