// profiler/stress_process.h: a `repipe stress` co-runner started as a child process, so the load
// a probe meets is another process's, as a co-located job's is.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include <sys/types.h>

#include "profiler/cpu_stress.h"

namespace repipe {

class StressProcess {
 public:
  // Starts `program stress ...` with `options` (device, kind, intensity, seconds, threads,
  // cores); it writes its report to `report` when it ends. Returns once the child has printed
  // its first line (its buffers are ready and its load begins); a child that dies or stays silent
  // for `ready_timeout_s` is an InternalError naming the command.
  StressProcess(const std::string& program, const StressOptions& options,
                const std::filesystem::path& report, double ready_timeout_s = 30);
  // Kills the child if it still runs (an error path): no co-runner outlives its collector.
  ~StressProcess();
  StressProcess(const StressProcess&) = delete;
  StressProcess& operator=(const StressProcess&) = delete;

  // Freezes the child (SIGSTOP) and lets it go on (SIGCONT): alone timings between co-located
  // ones, microseconds apart. The paused time is taken out of the report's rates.
  void pause();
  void resume();

  // Asks the child to stop (SIGTERM), waits for it and returns its report, its rates and
  // fractions per second of running (not paused) time.
  StressReport stop();

 private:
  std::string command_;  // for messages
  std::chrono::steady_clock::time_point paused_at_{};
  double paused_seconds_ = 0;
  bool paused_ = false;
  std::filesystem::path report_;
  pid_t pid_ = -1;
  int output_ = -1;  // the read end of the child's stdout
};

}  // namespace repipe
