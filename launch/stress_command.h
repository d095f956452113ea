// launch/stress_command.h: `repipe stress`: a co-located load (CPU compute, memory bandwidth, or
// a GPU) at a chosen duty cycle, in a process of its own beside a training run or a probe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace repipe {

struct StressCommand {
  std::string device = "cpu";  // --device: cpu | cuda:N
  std::string kind;            // --kind: compute | memory | mixed
  double intensity = 0;        // --intensity: duty cycle in [0, 1]
  double seconds = 0;          // --seconds
  int threads = 1;             // --threads
  std::vector<int> cores;      // --cores 0,1: pin thread i to cores[i % n]
  double period_ms = 10;       // --period-ms
  std::uint64_t seed = 1;      // --seed
  std::string report;          // --report: key=value facts, written atomically at the end
};

CLI::App* add_stress_command(CLI::App& app, StressCommand& command);

// Checks the input (a UsageError, exit 2, before anything runs), makes SIGTERM and SIGINT end
// the run early and cleanly, prints a start line once the buffers are ready and the load begins,
// runs, writes --report (also after SIGTERM) and prints the report line. Exit code 0.
int run_stress_command(const StressCommand& command);

}  // namespace repipe
