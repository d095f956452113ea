// engine/replanner.h: given how slow each rank is, the plan to move to, and whether moving pays.
//
// The planner (partitioner/straight_planner.h) runs on the monitor's reference profile with each
// stage's device at speed 1 / slowdown of its rank, a stage costing its blocks plus the stage's
// own overhead (the monitor's reference); when every rank is back to normal the plan
// the run started with comes back instead (the balance it was given, not a re-derived one). The
// simulator predicts a step of the current and of the new plan at those speeds; the move pays
// when the time it saves over the remaining steps exceeds the predicted migration time (the
// bytes of the blocks whose owner changes, parameters and optimizer state, at the migration rate
// measured so far) and the step gets at least `min_gain` faster (model error is not a gain; the
// way back to the initial plan needs only to be faster).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "partitioner/cost_model.h"
#include "partitioner/plan.h"
#include "partitioner/profile.h"

namespace repipe {

struct ReplanOptions {
  double min_gain = 0.05;  // least relative step-time improvement worth a move
  // Activations between stages: MPI within one node, as benchmarks/transport_bandwidth measured.
  Link link{6e9, 5e-6};
  // Migration cost until one is measured: a fixed part (drain, rebuild) and a rate.
  double migration_fixed_ms = 2;
  double migration_bytes_per_s = 1e9;
};

struct Replan {
  bool repartition = false;
  Plan plan;               // the plan to move to (the current one when not repartitioning)
  double step_ms_now = 0;  // predicted step of the current plan at the believed speeds
  double step_ms_new = 0;  // predicted step of `plan`
  std::int64_t steps_left = 0;
  double gain_ms = 0;       // (now - new) x steps_left
  double migration_ms = 0;  // predicted
  std::int64_t migration_bytes = 0;
  std::string why_not;  // when not repartitioning, one phrase
};

// The predicted slowdown of blocks [first, last] as one stage on `rank`, under the load measured
// there (engine/stage_slowdown_model.h puts the slowdown predictor behind it).
using StageSlowdownFn = std::function<double(int rank, std::int64_t first, std::int64_t last)>;

class Replanner {
 public:
  // `reference`: per-block costs at normal speed (StageMonitor::reference()) with param_bytes;
  // `stage_overhead_ms[s]`: what stage s costs beyond its blocks per micro-batch;
  // `state_bytes[b]`: what migrating block b sends (parameters, buffers, optimizer state);
  // `initial`: the plan the run started with. Straight plans only (UsageError otherwise).
  Replanner(Profile reference, std::vector<double> stage_overhead_ms,
            std::vector<std::int64_t> state_bytes, Plan initial, TrainingSetup setup,
            ReplanOptions options = {});

  // `slowdown[rank]` as believed now, `current` the plan running, `steps_left` after this step.
  Replan consider(const std::vector<double>& slowdown, const Plan& current,
                  std::int64_t steps_left) const;

  // A migration of `bytes` took `ms`: later predictions use its rate.
  void record_migration(std::int64_t bytes, double ms);

  // With a predictor, a rank's measured slowdown holds for the stage it runs now, and a candidate
  // stage on it costs measured x predicted(candidate) / predicted(current): the predictor says
  // which blocks suffer more under that rank's load (memory-bound ones beside a memory-bound
  // job), the measurement keeps the level honest. Without one, every stage on a rank is slowed
  // alike.
  void set_stage_slowdown(StageSlowdownFn predicted) { predicted_ = std::move(predicted); }

 private:
  // Predicted step of `plan` with its stages at the ranks' speeds, `running` the plan whose
  // stages the measured slowdowns belong to.
  double step_ms(const Plan& plan, const std::vector<double>& slowdown, const Plan& running) const;
  CostModel cost_model(const Plan& plan, const std::vector<double>& slowdown,
                       const Plan& running) const;

  Profile reference_;
  std::vector<double> compute_prefix_;  // [i]: forward + backward of blocks 0..i-1
  std::vector<double> stage_overhead_ms_;
  std::vector<std::int64_t> state_bytes_;
  Plan initial_;
  TrainingSetup setup_;
  ReplanOptions options_;
  StageSlowdownFn predicted_;
};

}  // namespace repipe
