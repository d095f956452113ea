// inference/serving_simulator.h: a discrete-event simulation of serving models on shared GPUs
// under an allocation (allocation.h), to compare allocators by the deadline misses they cause.
//
// What it models, per placement of the plan (a server: one model's process on one GPU with a
// share and a batch size):
//   dispatch   each request goes to one of its model's servers by smooth weighted round robin
//              over the servers' planned rates, so each serves the rate λ_j it was planned for;
//   queue      a FIFO per server; a request whose deadline (arrival + SLO) has passed when a
//              batch is formed is dropped (served late it would only delay the others);
//   batching   an idle server starts a batch at once with what is queued, up to its batch size
//              (no waiting for a full batch); the batch runs as the smallest profiled batch size
//              that holds it (padding, as DeInfer's and Triton's fixed-batch engines do);
//   execution  the runtime profile's latency at the server's share, times the interference
//              slowdown 1 + I/100 from the servers of other models on its GPU that are busy when
//              the batch starts (`actual`, the ground truth of the simulation);
//   rates      every `period_s` each model's arrivals are fed to a CUSUM detector (rate_cusum.h);
//              on an alarm the model is re-placed for the re-estimated rate (reallocate_model,
//              else a whole new allocation, with the plan's policy), as DeInfer's dispatcher
//              does. Retired servers finish their running batch; their queues move to the new
//              servers. An even split ignores rates, so its plan stays.
// A request misses its deadline when it is dropped, finds no server, or completes after it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference/allocation.h"
#include "inference/gpu_allocator.h"
#include "inference/rate_cusum.h"

namespace repipe {

class InterferenceModel;
class ModelRepository;

struct ServingRequest {
  double arrival_s = 0;
  int model = 0;  // index into the simulated allocation's models
};

struct SimulatorOptions {
  double period_s = 1;     // arrivals are counted per period for the CUSUM detector
  bool reallocate = true;  // act on CUSUM alarms (an even split never does: it ignores rates)
  CusumOptions cusum;      // threshold and drift in arrivals per period, window
  // Scale each model's CUSUM to its planned count per period μ = rate · period instead of
  // cusum.threshold and cusum.drift: h = threshold_sigmas · √μ (Poisson noise is √μ) and
  // k = drift_fraction · μ (changes below twice that are let go). DeInfer's fixed h = 50 alarms
  // every period at 2,000 requests/s and never at 5.
  bool scale_cusum = false;
  double threshold_sigmas = 5;
  double drift_fraction = 0.05;
  AllocatorOptions allocator;
};

struct ModelServingStats {
  std::string model;
  std::int64_t requests = 0;
  std::int64_t served = 0;                    // completed, in time or late
  std::int64_t late = 0;                      // completed after the deadline
  std::int64_t dropped = 0;                   // expired in a queue, or no server for the model
  double p50_ms = 0, p99_ms = 0, max_ms = 0;  // latency of the served requests
  double mean_batch = 0;                      // requests per batch run

  std::int64_t missed() const { return late + dropped; }
  double miss_rate() const {
    return requests == 0 ? 0 : static_cast<double>(missed()) / static_cast<double>(requests);
  }
};

struct GpuUse {
  int gpu = 0;
  double allocated_percent = 0;  // time-weighted Σ share of the placements on it
  double busy_percent = 0;       // Σ share × busy time / duration: the share actually computing
};

struct Reallocation {
  double time_s = 0;
  std::string model;
  double old_rate_per_s = 0, new_rate_per_s = 0;  // the model's planned and re-estimated rate
  std::string action;      // "re-placed", "allocated anew", or "kept: <why infeasible>"
  std::string placements;  // after: "gpu0:30%xb8 gpu1:20%xb4"
};

// One model's requests in one period.
struct PeriodStats {
  double start_s = 0;
  int model = 0;
  std::int64_t arrivals = 0;
  std::int64_t missed = 0;   // of the requests that arrived in the period
  double rate_estimate = 0;  // the CUSUM's λ̂ at the end of the period, per second
  int share_percent = 0;     // Σ share of the model's servers at the end of the period
};

struct SimulationReport {
  double duration_s = 0;
  std::vector<ModelServingStats> models;  // the allocation's order
  ModelServingStats total;                // model "all"
  std::vector<GpuUse> gpus;
  std::vector<Reallocation> reallocations;
  std::vector<PeriodStats> periods;
};

// Serves `requests` (any order; a model index outside the allocation is a UsageError) from
// `plan` and returns what happened. `actual` gives the interference the servers suffer; the
// re-allocations predict with `predicted` (the allocator's model; greedy plans ignore it).
SimulationReport simulate_serving(const ModelRepository& repository, const Allocation& plan,
                                  std::vector<ServingRequest> requests,
                                  const InterferenceModel& actual,
                                  const InterferenceModel& predicted,
                                  const SimulatorOptions& options = {});

}  // namespace repipe
