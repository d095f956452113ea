#include "engine/reference_trainer.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/progress.h"
#include "datasets/synthetic.h"
#include "engine/checkpoint.h"
#include "engine/gradients.h"
#include "engine/metrics.h"

namespace repipe {

OptimizerConfig optimizer_config(const RunConfig& c) {
  return {c.optimizer, c.momentum, c.weight_decay, c.beta1, c.beta2, c.eps};
}

LrSchedule lr_schedule(const RunConfig& c) {
  return {c.lr_schedule, c.lr, c.min_lr, c.warmup_steps, c.steps};
}

ReferenceTrainer::ReferenceTrainer(const RunConfig& config, Model model, torch::Device device)
    : config_(config),
      model_(std::move(model)),
      device_(device),
      data_(open_dataset(config.dataset, model_.sample, static_cast<std::uint64_t>(config.seed))),
      optimizer_(optimizer_config(config)),
      lr_(lr_schedule(config)) {
  model_.to(device_);
  parameters_ = model_.named_parameters();
}

Batch ReferenceTrainer::batch(DataStream stream, std::int64_t index) const {
  Batch b = data_->batch(stream, index, config_.batch_size);
  return {bundle_to(b.inputs, device_), bundle_to(b.targets, device_)};
}

StepResult ReferenceTrainer::train_step(std::int64_t step) {
  return train_on(step, batch(DataStream::kTrain, step - 1));
}

StepResult ReferenceTrainer::train_on(std::int64_t step, const Batch& data) {
  const std::int64_t m = config_.microbatches;
  std::vector<Bundle> inputs = split_bundle(data.inputs, m);
  std::vector<Bundle> targets = split_bundle(data.targets, m);

  model_.train(true);
  for (const NamedTensor& p : parameters_) p.tensor.mutable_grad() = torch::Tensor();
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions(torch::kDouble).device(device_));
  for (std::int64_t i = 0; i < m; ++i) {
    Bundle activations = inputs[i];
    for (const BlockPtr& block : model_.blocks) {
      seed_block_forward(*block, static_cast<std::uint64_t>(config_.seed), step, i);
      activations = block->forward(activations);
    }
    torch::Tensor loss = model_.loss(activations, targets[i]);
    (loss / static_cast<double>(m)).backward();
    loss_sum += loss.detach().to(torch::kDouble);
  }

  StepResult result;
  result.lr = lr_.at(step);
  reduce_tied_gradients(model_.ties, parameters_);
  if (config_.grad_clip > 0) {
    result.grad_norm = global_grad_norm(block_squared_grad_norms(model_));
    clip_gradients(parameters_, *result.grad_norm, config_.grad_clip);
  }
  optimizer_.step(parameters_, result.lr);
  result.loss = loss_sum.item<double>() / static_cast<double>(m);
  return result;
}

EvalResult ReferenceTrainer::evaluate() {
  torch::NoGradGuard no_grad;
  model_.train(false);
  double loss = 0;
  std::int64_t correct = 0;
  std::int64_t total = 0;
  for (std::int64_t i = 0; i < config_.eval_batches; ++i) {
    Batch data = batch(DataStream::kHeldOut, i);
    Bundle output = model_.forward(data.inputs);
    loss += model_.loss(output, data.targets).item<double>();
    auto [hits, count] = model_.correct(output, data.targets);
    correct += hits;
    total += count;
  }
  return {loss / static_cast<double>(config_.eval_batches),
          static_cast<double>(correct) / static_cast<double>(total)};
}

// One stage file with every block, then the manifest (the same layout a pipeline writes).
void ReferenceTrainer::write_checkpoint(std::int64_t step) {
  std::filesystem::path folder =
      checkpoint_step_folder(std::filesystem::path(config_.output) / "checkpoints", step);
  write_stage_checkpoint(folder / stage_checkpoint_file_name(0), model_.blocks, model_.ties,
                         optimizer_, step);
  std::vector<std::string> names;
  for (const BlockPtr& block : model_.blocks) names.push_back(block->block_name());
  write_checkpoint_manifest(folder, step, {names});
}

void ReferenceTrainer::run() {
  std::optional<MetricsWriter> metrics;
  if (!config_.output.empty()) {
    std::filesystem::path dir(config_.output);
    write_file_atomically(dir / "run.toml", config_to_toml(config_));
    metrics.emplace(dir / "metrics.csv");
  }
  std::int64_t first_step = 1;
  if (!config_.resume.empty()) {
    std::filesystem::path folder = latest_checkpoint(config_.resume);
    first_step = load_blocks_from_checkpoint(folder, model_.blocks, model_.ties, optimizer_) + 1;
    std::printf("resumed from %s at step %lld\n", folder.c_str(),
                static_cast<long long>(first_step));
  }
  Progress progress("step", config_.steps);
  double first_loss = 0;
  double last_loss = 0;
  auto start = std::chrono::steady_clock::now();
  for (std::int64_t step = first_step; step <= config_.steps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    StepResult r = train_step(step);
    double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    StepMetrics row{step,
                    r.loss,
                    static_cast<double>(config_.batch_size) / step_s,
                    r.lr,
                    step_s * 1e3,
                    r.grad_norm,
                    {},
                    {}};
    bool eval_now =
        config_.eval_every > 0 && (step % config_.eval_every == 0 || step == config_.steps);
    if (eval_now) {
      EvalResult e = evaluate();
      row.eval_loss = e.loss;
      row.eval_accuracy = e.accuracy;
    }
    if (config_.checkpoint_every > 0 &&
        (step % config_.checkpoint_every == 0 || step == config_.steps)) {
      write_checkpoint(step);
    }
    if (metrics) metrics->write(row);
    if (step == first_step) first_loss = r.loss;
    last_loss = r.loss;
    char detail[128];
    std::snprintf(detail, sizeof(detail), "loss %.4f  %.0f samples/s", r.loss, row.samples_per_s);
    std::string text = detail;
    if (row.eval_loss) {
      std::snprintf(detail, sizeof(detail), "  eval loss %.4f acc %.3f", *row.eval_loss,
                    *row.eval_accuracy);
      text += detail;
    }
    progress.update(step, text);
  }
  progress.finish();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::int64_t steps = config_.steps - first_step + 1;
  std::printf("trained %lld steps in %.1f s: loss %.4f -> %.4f, %.0f samples/s\n",
              static_cast<long long>(steps), seconds, first_loss, last_loss,
              static_cast<double>(steps * config_.batch_size) / seconds);
  if (!config_.output.empty())
    std::printf("wrote %s/metrics.csv and run.toml\n", config_.output.c_str());
}

}  // namespace repipe
