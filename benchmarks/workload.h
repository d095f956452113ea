// benchmarks/workload.h: the training workloads the overhead benchmarks time, and their config.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/run_config.h"

namespace repipe {

struct Workload {
  std::string model;
  std::int64_t batch_size;
  std::int64_t microbatches;
  std::int64_t seq_len = 0;
};

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The run config of `w` for `steps` steps (SGD at lr 1e-3, seed 1).
inline RunConfig config_for(const Workload& w, std::int64_t steps) {
  RunConfig c;
  c.model = w.model;
  c.batch_size = w.batch_size;
  c.microbatches = w.microbatches;
  c.seq_len = w.seq_len;
  c.steps = steps;
  c.lr = 1e-3;
  c.seed = 1;
  return c;
}

}  // namespace repipe
