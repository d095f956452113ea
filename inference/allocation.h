// inference/allocation.h: what the GPU allocator decides and reads: the load (models with
// arrival rates and SLOs, load.toml) and the allocation (per model, the GPUs it runs on with a
// share, a batch size and the rate each serves, plus what was predicted; plan.toml).
//
// A serving simulator loads plan.toml to set up its servers and, when a rate changes, calls
// allocate() (gpu_allocator.h) with allocation.loads() updated, or reallocate_model() to move
// only the model whose rate changed.
//
// load.toml (format version 1):
//   version = 1
//   [[models]]
//   name = "resnet-mini"   # a model of the repository
//   rate = 120.0           # arrivals per second, >= 0 (0: the model gets no GPU)
//   slo_ms = 40.0          # optional: the repository's SLO otherwise
//
// plan.toml (format "repipe-allocation", version 1): the header keys below, one [[models]]
// table per model with one [[models.placements]] table per GPU it runs on, and one
// [[gpu_totals]] table per GPU with its total share. The predictions are what the plan was scored
// with (score_allocation); a reader that only serves needs gpu, share, batch_size and rate.
#pragma once

#include <string>
#include <vector>

namespace repipe {

class ModelRepository;

enum class AllocationPolicy {
  kDeinfer,  // DeInfer's queueing- and interference-aware allocation, its bugs fixed
  kEven,     // baseline: every model the same share, whatever its load
  kGreedy,   // baseline: DeInfer's allocation deciding without interference prediction
};

// "deinfer" | "even" | "greedy"; anything else is a UsageError naming `what` (the flag or key).
AllocationPolicy parse_allocation_policy(const std::string& text, const std::string& what);
const char* allocation_policy_name(AllocationPolicy policy);

// One model's load: its arrival rate and the SLO it must meet.
struct ModelLoad {
  std::string model;
  double rate_per_s = 0;  // λ
  double slo_ms = 0;      // S
};

// One server of a model: a process on one GPU with a share, serving part of the model's rate.
struct Placement {
  int gpu = 0;            // 0-based
  int share = 0;          // percent of the GPU (MPS active-thread percentage), 1..100
  int batch_size = 0;     // items per batch
  double rate_per_s = 0;  // λ_j: the part of the model's arrivals sent here
  // Predictions (score_allocation).
  double latency_ms = 0;        // one batch at this share, alone (the runtime profile)
  double slowdown = 1;          // 1 + I/100 from the co-runners on this GPU
  double item_time_ms = 0;      // D = latency_ms · slowdown / batch_size
  double max_item_time_ms = 0;  // MaxD(λ_j, S)
  bool meets_slo = false;       // D <= MaxD and latency_ms · slowdown <= S/2
};

struct ModelAllocation {
  std::string model;
  double rate_per_s = 0;
  double slo_ms = 0;
  std::vector<Placement> placements;  // by GPU

  double served_rate_per_s() const;  // Σ placements' rates
};

struct Allocation {
  static constexpr int kVersion = 1;
  std::string policy;     // allocation_policy_name()
  int gpus = 0;           // GPUs available
  std::string predictor;  // the interference model that scored it (InterferenceModel::describe)
  std::vector<ModelAllocation> models;  // in the load's order

  const ModelAllocation* find(const std::string& model) const;
  // Total share per GPU, percent (gpus entries).
  std::vector<int> gpu_shares() const;
  // GPUs with at least one placement.
  int gpus_used() const;
  // The loads it was made for: change a rate and allocate again.
  std::vector<ModelLoad> loads() const;
  bool meets_slo() const;  // every placement does
};

// Reads load.toml against the repository: a missing or mistyped key, a negative or non-finite
// rate, an SLO <= 0, a model not in the repository or named twice is a UsageError naming the
// file, the key and what was expected.
std::vector<ModelLoad> load_model_loads(const std::string& path, const ModelRepository& repository);
std::string model_loads_toml(const std::vector<ModelLoad>& loads);

// plan.toml: text, atomic write, and a strict reader (UsageError naming file, key and what was
// expected; a share total above 100 on a GPU or a GPU index outside 0..gpus-1 included).
std::string allocation_to_toml(const Allocation& allocation);
void save_allocation(const Allocation& allocation, const std::string& path);
Allocation load_allocation(const std::string& path);

}  // namespace repipe
