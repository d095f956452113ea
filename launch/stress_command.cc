// launch/stress_command.cc: `repipe stress`: the stress generator (profiler/cpu_stress.h,
// profiler/gpu_stress.h) behind flags, signals and a report file the collector reads.
#include "launch/stress_command.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include <unistd.h>
#include <CLI/CLI.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "profiler/cpu_stress.h"
#include "profiler/gpu_stress.h"

namespace repipe {
namespace {

// Set by SIGTERM or SIGINT; the stress loops poll it between chunks.
std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void request_stop(int) {
  stop_requested.store(true);
}

// While it lives: SIGTERM and SIGINT request a stop, and SIGPIPE is ignored (a reader that
// closed our stdout must not kill us before the report is written).
class StopOnSignals {
 public:
  StopOnSignals() {
    install(SIGTERM, request_stop, previous_term_);
    install(SIGINT, request_stop, previous_int_);
    install(SIGPIPE, SIG_IGN, previous_pipe_);
  }
  ~StopOnSignals() {
    ::sigaction(SIGTERM, &previous_term_, nullptr);
    ::sigaction(SIGINT, &previous_int_, nullptr);
    ::sigaction(SIGPIPE, &previous_pipe_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

 private:
  static void install(int signal, void (*handler)(int), struct sigaction& previous) {
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    ::sigaction(signal, &action, &previous);
  }

  struct sigaction previous_term_ {};
  struct sigaction previous_int_ {};
  struct sigaction previous_pipe_ {};
};

}  // namespace

CLI::App* add_stress_command(CLI::App& app, StressCommand& command) {
  CLI::App* stress = app.add_subcommand(
      "stress", "Load this machine's CPUs, memory or a GPU at a duty cycle (a co-located job)");
  stress->add_option("--device", command.device, "cpu | cuda:N (default: cpu)");
  stress->add_option("--kind", command.kind, "compute | memory | mixed")->required();
  stress
      ->add_option("--intensity", command.intensity,
                   "duty cycle in [0, 1]: the busy part of each period")
      ->required();
  stress->add_option("--seconds", command.seconds, "how long to run (SIGTERM ends it sooner)")
      ->required();
  stress->add_option("--threads", command.threads, "stress threads (CPU; default 1)");
  stress->add_option("--cores", command.cores, "CPU ids to pin the threads to, round-robin: 0,1")
      ->delimiter(',');
  stress->add_option("--period-ms", command.period_ms, "one busy slice and one sleep (default 10)");
  stress->add_option("--seed", command.seed, "initial data values (default 1)");
  stress->add_option("--report", command.report,
                     "write the report as key=value lines to FILE (also after SIGTERM)");
  return stress;
}

int run_stress_command(const StressCommand& c) {
  StressOptions options;
  options.device = c.device;
  options.kind = parse_stress_kind(c.kind);
  options.intensity = c.intensity;
  options.seconds = c.seconds;
  options.threads = c.threads;
  options.period_ms = c.period_ms;
  options.cores = c.cores;
  options.seed = c.seed;
  validate_stress_options(options);
  const bool on_cpu = options.device == "cpu";
  if (!on_cpu) check_cuda_device(options.device);
  std::error_code error;
  if (!c.report.empty() && std::filesystem::is_directory(c.report, error)) {
    throw UsageError("--report: " + c.report + " is a folder; expected a file path");
  }

  // From here on SIGTERM or SIGINT ends the run with a whole report, even during set-up.
  StopOnSignals stop_on_signals;
  // Callers wait for this line: the buffers are ready and the load begins.
  auto announce = [&] {
    std::printf("stress: started pid=%d device=%s kind=%s intensity=%.2f threads=%d seconds=%.2f\n",
                static_cast<int>(::getpid()), options.device.c_str(),
                stress_kind_name(options.kind), options.intensity, options.threads,
                options.seconds);
    std::fflush(stdout);
  };
  const StressReport report = on_cpu ? run_cpu_stress(options, &stop_requested, announce)
                                     : run_gpu_stress(options, &stop_requested, announce);
  // The file first, so a reader that stops listening to stdout still gets it.
  if (!c.report.empty()) write_file_atomically(c.report, stress_report_text(report));
  std::printf("%s%s\n", stress_report_line(report).c_str(),
              report.stopped_early ? " (stopped early)" : "");
  return 0;
}

}  // namespace repipe
