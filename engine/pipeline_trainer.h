// engine/pipeline_trainer.h: one rank of a pipeline: its stage's blocks, run as a loop over
// this stage's actions of the schedule.
//
// The arithmetic is the reference trainer's (engine/reference_trainer.h), spread over stages:
// the first stage reads the inputs and the last the targets of the same batch; each stage runs
// its blocks with the same per-block seeding; the last stage divides each micro-batch loss by
// m before its backward; gradients accumulate in micro-batch order; tied gradients are summed
// owner + user; the global norm adds per-block terms in block order. So a pipeline reproduces
// the single-process run bit for bit (tests/engine/pipeline_equivalence_test.cc).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "common/run_config.h"
#include "datasets/synthetic.h"
#include "engine/bundle_channel.h"
#include "engine/lr_schedule.h"
#include "engine/optimizer.h"
#include "engine/reference_trainer.h"
#include "engine/trace.h"
#include "engine/transport/transport.h"
#include "models/model.h"
#include "partitioner/plan.h"
#include "partitioner/schedule.h"

namespace repipe {

// Time one rank spent in one step, by kind (ranks/rank<R>.csv).
struct StageTimes {
  double forward_ms = 0;
  double backward_ms = 0;
  double comm_ms = 0;  // posting sends and receives, exchanging tied gradients and norms
  double idle_ms = 0;  // blocked, waiting for a neighbour's message
  double step_ms = 0;
};

class PipelineTrainer {
 public:
  // `model` is the whole model; this rank keeps the blocks of its stage in `plan`.
  PipelineTrainer(const RunConfig& config, const Plan& plan, Model model, Transport& transport,
                  torch::Device device);

  // Trains step `step` (1-based). The loss is known on the last stage only (NaN elsewhere).
  StepResult train_step(std::int64_t step);

  // Runs all steps: metrics.csv on the last stage, ranks/rank<R>.csv on every rank,
  // trace.json (all ranks merged) and run.toml on rank 0.
  void run();

  int stage() const { return stage_; }
  bool is_last_stage() const { return stage_ + 1 == stages_; }
  const StageTimes& last_step_times() const { return times_; }
  // This stage's parameters, full names (for tests and checkpoints).
  const std::vector<NamedTensor>& parameters() const { return parameters_; }
  const std::vector<BlockPtr>& blocks() const { return blocks_; }

 private:
  void execute(const Action& action, std::int64_t step);
  void forward(std::int64_t step, int microbatch);
  void backward(int microbatch);
  void reduce_tied_gradients_across_stages();
  void optimizer_step(std::int64_t step, StepResult& result);
  Bundle wait_bundle(InboundChannel& channel, std::int64_t ticket, const std::string& what);

  RunConfig config_;
  Plan plan_;
  Model model_;  // all blocks are built (for names and ties); this stage's are trained
  Transport& transport_;
  torch::Device device_;
  int stage_ = 0;
  int stages_ = 1;
  std::int64_t first_block_ = 0;
  std::vector<BlockPtr> blocks_;
  std::vector<NamedTensor> parameters_;
  Schedule schedule_;
  SyntheticDataset data_;
  Optimizer optimizer_;
  LrSchedule lr_;
  std::chrono::milliseconds timeout_;

  std::unique_ptr<InboundChannel> from_previous_;
  std::unique_ptr<InboundChannel> from_next_;
  std::vector<OutgoingBundle> outgoing_;

  // Per micro-batch state of the step in flight.
  std::vector<Bundle> inputs_;   // data inputs (first stage) or received activations
  std::vector<Bundle> targets_;  // last stage
  std::vector<Bundle> stage_inputs_;
  std::vector<Bundle> stage_outputs_;
  std::vector<torch::Tensor> losses_;  // last stage
  std::vector<std::int64_t> activation_tickets_;
  std::vector<std::int64_t> grad_tickets_;
  torch::Tensor loss_sum_;

  StageTimes times_;
  TraceRecorder trace_;
};

}  // namespace repipe
