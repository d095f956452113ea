// profiler/stress_process.cc: posix_spawn, a pipe for the ready line, SIGTERM to stop.
#include "profiler/stress_process.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cpu_affinity.h"
#include "common/error.h"

extern char** environ;

namespace repipe {
namespace {

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::vector<std::string> stress_arguments(const std::string& program, const StressOptions& o,
                                          const std::filesystem::path& report) {
  std::vector<std::string> args = {program,       "stress",
                                   "--device",    o.device,
                                   "--kind",      stress_kind_name(o.kind),
                                   "--intensity", number_text(o.intensity),
                                   "--seconds",   number_text(o.seconds),
                                   "--threads",   std::to_string(o.threads),
                                   "--period-ms", number_text(o.period_ms),
                                   "--report",    report.string()};
  if (!o.cores.empty()) {
    std::string cores;
    for (int core : o.cores) {  // piece by piece: GCC 12 warns falsely on "," + std::string
      if (!cores.empty()) cores += ',';
      cores += std::to_string(core);
    }
    args.push_back("--cores");
    args.push_back(cores);
  }
  return args;
}

std::string joined(const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& a : args) text += (text.empty() ? "" : " ") + a;
  return text;
}

}  // namespace

StressProcess::StressProcess(const std::string& program, const StressOptions& options,
                             const std::filesystem::path& report, double ready_timeout_s)
    : report_(report) {
  std::vector<std::string> args = stress_arguments(program, options, report);
  command_ = joined(args);
  std::error_code ignored;
  std::filesystem::remove(report_, ignored);

  int pipe_ends[2];
  REPIPE_CHECK(::pipe(pipe_ends) == 0, "pipe: " << std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_ends[0]);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int spawned = 0;
  {
    // The child inherits this thread's mask, and this thread may be pinned to the very core
    // the co-runner must avoid: for the spawn it runs on the child's cores (a core it may not
    // use is the child's error to report).
    ScopedAffinity affinity(options.cores, "--cores", /*strict=*/false);
    spawned = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
  }
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_ends[1]);
  output_ = pipe_ends[0];
  if (spawned != 0) {
    pid_ = -1;
    REPIPE_CHECK(false, "cannot start '" << command_ << "': " << std::strerror(spawned));
  }

  // The first line means the child is loading the machine.
  pollfd ready{output_, POLLIN, 0};
  int polled = ::poll(&ready, 1, static_cast<int>(ready_timeout_s * 1000));
  char first = 0;
  bool got_line = polled > 0 && ::read(output_, &first, 1) == 1;
  REPIPE_CHECK(got_line, "'" << command_ << "' " << (polled == 0 ? "printed nothing" : "ended")
                             << " before starting its load");
}

StressProcess::~StressProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (output_ >= 0) ::close(output_);
}

void StressProcess::pause() {
  REPIPE_CHECK(pid_ > 0 && !paused_, "'" << command_ << "': pause while not running");
  REPIPE_CHECK(::kill(pid_, SIGSTOP) == 0,
               "SIGSTOP '" << command_ << "': " << std::strerror(errno));
  paused_at_ = std::chrono::steady_clock::now();
  paused_ = true;
}

void StressProcess::resume() {
  REPIPE_CHECK(pid_ > 0 && paused_, "'" << command_ << "': resume while not paused");
  REPIPE_CHECK(::kill(pid_, SIGCONT) == 0,
               "SIGCONT '" << command_ << "': " << std::strerror(errno));
  paused_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - paused_at_).count();
  paused_ = false;
}

StressReport StressProcess::stop() {
  REPIPE_CHECK(pid_ > 0, "'" << command_ << "' already stopped");
  if (paused_) resume();  // a stopped process holds SIGTERM until it runs again
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  REPIPE_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "'" << command_ << "' failed (status " << status << ")");
  std::ifstream in(report_);
  std::stringstream text;
  text << in.rdbuf();
  REPIPE_CHECK(in.good() || in.eof(), "'" << command_ << "' left no report at " << report_);
  StressReport report = parse_stress_report(text.str(), report_.string());
  const double running = report.wall_seconds - paused_seconds_;
  if (paused_seconds_ > 0 && running > 0) {
    const double scale = report.wall_seconds / running;
    report.gflops *= scale;
    report.gbps *= scale;
    report.busy_fraction *= scale;
    report.cpu_fraction *= scale;
  }
  return report;
}

}  // namespace repipe
