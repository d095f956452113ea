// inference/interference_model.h: how much the models sharing a GPU slow each other down, as the
// GPU allocator asks it: the interference on one model from its co-runners, in DeInfer's unit.
//
// DeInfer predicts interference I in percentage points (I = 25: a batch takes 25% longer than
// alone at the same share) and then, in its code, multiplies latencies by (1 + I): 26 times for
// I = 25. Here the unit is written into the names: interference_points() returns I, and
// slowdown_factor(I) = 1 + I/100 is the only way the allocator turns it into a factor.
//
// The predictor is the project's DeInfer model (profiler/slowdown_predictor.h: slowdown =
// c0 + c1·G·L + c2·Σ G'·L'), fed with achieved rates: a model at share s runs at speed
// v = T(b, 100%) / T(b, s) of its full-share speed, so its achieved G and L are v·G and v·L
// (the interference dataset's G and L are achieved rates too). With no co-runner, I = 0: the
// runtime profile was measured alone. A prediction below 1 is read as 1 (no speed-up from a
// co-runner), so I >= 0.
//
// Its coefficients, first found first used:
//   1. --predictor DIR: a folder of `repipe predictor train` (its [deinfer] table), fitted on an
//      interference dataset measured on the kind of device the repository was profiled on;
//   2. REPO/interference.toml: format "repipe-interference", version 1, and a [deinfer] table
//      with c0, c1, c2 (and an optional `source` line saying where they came from);
//   3. the default, kDefaultDeinfer: c0 = 1, c1 = 0, c2 = 1e-6 per (GFLOP/s x %): a co-runner adds
//      1% per 10^4 of its achieved G·L. On GPU features in DeInfer's units this is the order of
//      DeInfer's RTX 3080 data (one co-runner slows a model by 5.6% on average; a CNN at batch 16
//      runs at G·L of 10^4..10^5, e.g. vgg-16: 3154 GFLOP/s at 41% L2 load, 1.3·10^5). On CPU
//      features (G·L of 10..10^3) it predicts almost nothing: give a CPU-profiled repository its
//      own interference.toml.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "profiler/slowdown_predictor.h"

namespace repipe {

// A model running on a GPU, as the interference predictor sees it.
struct Tenant {
  double gflops = 0;       // G at its batch size, alone at full share
  double memory_load = 0;  // L at its batch size, alone at full share (% of peak bandwidth)
  double speed = 1;        // T(b, 100%) / T(b, share): its speed at its share, relative to full
  double share = 100;      // its share of the GPU, percent
};

// 1 + I/100: the factor a batch's latency is multiplied by under interference of I points.
inline double slowdown_factor(double interference_points) {
  return 1 + interference_points / 100;
}

class InterferenceModel {
 public:
  virtual ~InterferenceModel() = default;
  // I, in percentage points (>= 0), on `target` from `corunners` (the other tenants of its GPU).
  virtual double interference_points(const Tenant& target,
                                     const std::vector<Tenant>& corunners) const = 0;
  // One line for plans and tables: "deinfer c0=1 c1=0 c2=1e-06 (default)".
  virtual std::string describe() const = 0;
};

// Predicts no interference: the greedy baseline decides with it.
class NoInterference : public InterferenceModel {
 public:
  double interference_points(const Tenant&, const std::vector<Tenant>&) const override { return 0; }
  std::string describe() const override { return "none"; }
};

class DeinferInterference : public InterferenceModel {
 public:
  // `source` says where the coefficients came from, for describe().
  DeinferInterference(DeinferModel coefficients, std::string source);
  double interference_points(const Tenant& target,
                             const std::vector<Tenant>& corunners) const override;
  std::string describe() const override;
  const DeinferModel& coefficients() const { return coefficients_; }

 private:
  DeinferModel coefficients_;
  std::string source_;
};

inline constexpr DeinferModel kDefaultDeinfer{1.0, 0.0, 1e-6};
inline constexpr const char* kInterferenceFile = "interference.toml";

// The coefficients as listed above: predictor_dir when not empty, else repo_dir's
// interference.toml when present, else the default. A malformed file or folder is a UsageError
// naming it and the key.
std::unique_ptr<DeinferInterference> load_interference_model(const std::string& repo_dir,
                                                             const std::string& predictor_dir);

// REPO/interference.toml: reading (UsageError naming file and key) and its text.
DeinferModel read_interference_toml(const std::string& path);
std::string interference_toml(const DeinferModel& coefficients, const std::string& source);

}  // namespace repipe
