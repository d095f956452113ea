// engine/reference_trainer.h: the single-process trainer, the reference the pipeline must equal.
//
// One step, with its arithmetic order fixed (the pipeline engine reproduces it exactly):
//   for micro-batch i = 0..m-1:  seed each block's forward by (seed, step, i, block name);
//                                loss_i = loss(forward(inputs_i), targets_i); backward(loss_i / m)
//                                (gradients accumulate in order 0..m-1)
//   reported loss = (sum_i loss_i) / m, in double
//   reduce tied gradients; clip by global norm (if set); optimizer step at lr(step).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "common/run_config.h"
#include "datasets/dataset.h"
#include "datasets/synthetic.h"
#include "engine/lr_schedule.h"
#include "engine/optimizer.h"
#include "models/model.h"

namespace repipe {

struct StepResult {
  double loss = 0;
  double lr = 0;
  std::optional<double> grad_norm;  // computed only when clipping
};

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
};

class ReferenceTrainer {
 public:
  ReferenceTrainer(const RunConfig& config, Model model, torch::Device device);

  // Trains step `step` (1-based) on the step's synthetic batch.
  StepResult train_step(std::int64_t step);
  // Trains step `step` on `batch` (already on the trainer's device).
  StepResult train_on(std::int64_t step, const Batch& batch);

  // Mean loss and accuracy over the held-out batches (dropout off).
  EvalResult evaluate();

  // Writes OUTPUT/checkpoints/step-<step> (one stage file and the manifest).
  void write_checkpoint(std::int64_t step);

  // Runs all steps (after --resume's step, if set) with progress, metrics.csv and run.toml
  // (when an output folder is set), and checkpoints every --checkpoint-every steps.
  void run();

  Model& model() { return model_; }
  Optimizer& optimizer() { return optimizer_; }

 private:
  Batch batch(DataStream stream, std::int64_t index) const;

  RunConfig config_;
  Model model_;
  torch::Device device_;
  std::vector<NamedTensor> parameters_;
  std::unique_ptr<Dataset> data_;  // open_dataset(config.dataset)
  Optimizer optimizer_;
  LrSchedule lr_;
};

// OptimizerConfig and LrSchedule from a run config.
OptimizerConfig optimizer_config(const RunConfig& config);
LrSchedule lr_schedule(const RunConfig& config);

}  // namespace repipe
