#include "engine/pipeline_trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>

#include "common/atomic_file.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "common/progress.h"
#include "engine/gradients.h"
#include "engine/metrics.h"

namespace repipe {
namespace {

constexpr auto kDefaultTimeout = std::chrono::seconds(120);

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The block that holds a parameter "<block name>.<path>".
std::int64_t block_of_parameter(const Model& model, const std::string& parameter) {
  for (std::size_t i = 0; i < model.blocks.size(); ++i) {
    const std::string& name = model.blocks[i]->block_name();
    if (parameter.size() > name.size() && parameter.compare(0, name.size(), name) == 0 &&
        parameter[name.size()] == '.') {
      return static_cast<std::int64_t>(i);
    }
  }
  REPIPE_CHECK(false, "no block holds parameter " << parameter);
}

int stage_of_block(const Plan& plan, std::int64_t block) {
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    if (block >= plan.stages[s].first_block && block <= plan.stages[s].last_block) {
      return static_cast<int>(s);
    }
  }
  REPIPE_CHECK(false, "no stage holds block " << block);
}

torch::Tensor find_parameter(const std::vector<NamedTensor>& parameters, const std::string& name) {
  for (const NamedTensor& p : parameters) {
    if (p.name == name) return p.tensor;
  }
  REPIPE_CHECK(false, "this stage has no parameter " << name);
}

}  // namespace

PipelineTrainer::PipelineTrainer(const RunConfig& config, const Plan& plan, Model model,
                                 Transport& transport, torch::Device device)
    : config_(config),
      plan_(plan),
      model_(std::move(model)),
      transport_(transport),
      device_(device),
      data_(model_.sample, static_cast<std::uint64_t>(config.seed)),
      optimizer_(optimizer_config(config)),
      lr_(lr_schedule(config)),
      timeout_(kDefaultTimeout) {
  stage_ = plan_.stage_of_rank(transport_.rank());
  REPIPE_CHECK(stage_ >= 0, "rank " << transport_.rank() << " has no stage");
  stages_ = static_cast<int>(plan_.stages.size());
  const StagePlan& mine = plan_.stages[stage_];
  first_block_ = mine.first_block;
  for (std::int64_t b = mine.first_block; b <= mine.last_block; ++b) {
    blocks_.push_back(model_.blocks[b]);
    blocks_.back()->to(device_);
  }
  for (const BlockPtr& block : blocks_) {
    for (NamedTensor& p : block_parameters(*block)) parameters_.push_back(std::move(p));
  }
  schedule_ = make_schedule(parse_schedule_kind(config_.schedule), stages_,
                            static_cast<int>(config_.microbatches),
                            {.tied_weights = !model_.ties.empty(), .replicated = false});
  if (stage_ > 0) {
    from_previous_ =
        std::make_unique<InboundChannel>(transport_, plan_.stages[stage_ - 1].ranks[0]);
  }
  if (stage_ + 1 < stages_) {
    from_next_ = std::make_unique<InboundChannel>(transport_, plan_.stages[stage_ + 1].ranks[0]);
  }
}

Bundle PipelineTrainer::wait_bundle(InboundChannel& channel, std::int64_t ticket,
                                    const std::string& what) {
  auto start = Clock::now();
  Bundle bundle = channel.wait(ticket, timeout_, what);
  times_.idle_ms += ms_since(start);
  return bundle;
}

StepResult PipelineTrainer::train_step(std::int64_t step) {
  auto step_start = Clock::now();
  times_ = {};
  const auto m = static_cast<std::size_t>(config_.microbatches);
  inputs_.assign(m, {});
  targets_.assign(m, {});
  stage_inputs_.assign(m, {});
  stage_outputs_.assign(m, {});
  losses_.assign(m, {});
  activation_tickets_.assign(m, -1);
  grad_tickets_.assign(m, -1);
  loss_sum_ = torch::zeros({}, torch::TensorOptions(torch::kDouble).device(device_));
  if (stage_ == 0 || is_last_stage()) {
    // Both ends draw the same batch: the first keeps the inputs, the last the targets.
    Batch batch = data_.batch(DataStream::kTrain, step - 1, config_.batch_size);
    if (stage_ == 0) inputs_ = split_bundle(bundle_to(batch.inputs, device_), config_.microbatches);
    if (is_last_stage()) {
      targets_ = split_bundle(bundle_to(batch.targets, device_), config_.microbatches);
    }
  }
  for (const BlockPtr& block : blocks_) block->train(true);
  for (const NamedTensor& p : parameters_) p.tensor.mutable_grad() = torch::Tensor();

  StepResult result;
  result.loss = std::numeric_limits<double>::quiet_NaN();
  result.lr = lr_.at(step);
  for (const Action& action : schedule_[stage_]) {
    std::int64_t start = TraceRecorder::now_us();
    if (action.op == Op::kOptimizerStep) {
      optimizer_step(step, result);
    } else {
      execute(action, step);
    }
    trace_.record(to_string(action), start, TraceRecorder::now_us());
  }
  auto flush_start = Clock::now();
  for (OutgoingBundle& out : outgoing_) out.wait(timeout_, "sending to a neighbour stage");
  outgoing_.clear();
  times_.idle_ms += ms_since(flush_start);
  if (is_last_stage()) result.loss = loss_sum_.item<double>() / static_cast<double>(m);
  times_.step_ms = ms_since(step_start);
  return result;
}

void PipelineTrainer::execute(const Action& action, std::int64_t step) {
  const int mb = action.microbatch;
  auto start = Clock::now();
  switch (action.op) {
    case Op::kRecvActivation:
      activation_tickets_[mb] = from_previous_->expect();
      times_.comm_ms += ms_since(start);
      return;
    case Op::kForward:
      forward(step, mb);
      return;
    case Op::kSendActivation:
      outgoing_.emplace_back(transport_, stage_outputs_[mb], plan_.stages[stage_ + 1].ranks[0]);
      times_.comm_ms += ms_since(start);
      return;
    case Op::kRecvGrad:
      grad_tickets_[mb] = from_next_->expect();
      times_.comm_ms += ms_since(start);
      return;
    case Op::kBackward:
      backward(mb);
      return;
    case Op::kSendGrad: {
      Bundle grads;
      for (const auto& [name, tensor] : stage_inputs_[mb]) {
        if (!tensor.requires_grad()) continue;
        grads[name] = tensor.grad().defined() ? tensor.grad() : torch::zeros_like(tensor);
      }
      outgoing_.emplace_back(transport_, grads, plan_.stages[stage_ - 1].ranks[0]);
      stage_inputs_[mb].clear();
      times_.comm_ms += ms_since(start);
      return;
    }
    case Op::kReduceTiedGrads:
      reduce_tied_gradients_across_stages();
      times_.comm_ms += ms_since(start);
      return;
    case Op::kReduceGrads:
      REPIPE_CHECK(false, "replicated stages are not supported yet");
      return;
    case Op::kOptimizerStep:
      REPIPE_CHECK(false, "the optimizer step is executed by train_step");
      return;
  }
}

void PipelineTrainer::forward(std::int64_t step, int mb) {
  Bundle x;
  if (stage_ == 0) {
    x = inputs_[mb];
  } else {
    x = wait_bundle(*from_previous_, activation_tickets_[mb],
                    "stage " + std::to_string(stage_) + " waiting for activations of micro-batch " +
                        std::to_string(mb));
  }
  auto start = Clock::now();
  stage_inputs_[mb] = x;
  for (const BlockPtr& block : blocks_) {
    seed_block_forward(*block, static_cast<std::uint64_t>(config_.seed), step, mb);
    x = block->forward(x);
  }
  if (is_last_stage()) {
    losses_[mb] = model_.loss(x, targets_[mb]);
    loss_sum_ += losses_[mb].detach().to(torch::kDouble);
  } else {
    stage_outputs_[mb] = std::move(x);
  }
  times_.forward_ms += ms_since(start);
}

void PipelineTrainer::backward(int mb) {
  if (is_last_stage()) {
    auto start = Clock::now();
    (losses_[mb] / static_cast<double>(config_.microbatches)).backward();
    losses_[mb] = torch::Tensor();
    times_.backward_ms += ms_since(start);
    return;
  }
  Bundle grads = wait_bundle(*from_next_, grad_tickets_[mb],
                             "stage " + std::to_string(stage_) +
                                 " waiting for gradients of micro-batch " + std::to_string(mb));
  auto start = Clock::now();
  std::vector<torch::Tensor> outputs;
  std::vector<torch::Tensor> output_grads;
  for (const auto& [name, grad] : grads) {
    auto it = stage_outputs_[mb].find(name);
    REPIPE_CHECK(it != stage_outputs_[mb].end(), "gradient for unknown output " << name);
    outputs.push_back(it->second);
    output_grads.push_back(grad.to(device_));
  }
  if (!outputs.empty()) torch::autograd::backward(outputs, output_grads);
  stage_outputs_[mb].clear();
  times_.backward_ms += ms_since(start);
}

// Each tie's two copies may live on two stages: the owner's and the user's ranks swap their
// gradients and both set owner + user, in that order, as the single process does.
void PipelineTrainer::reduce_tied_gradients_across_stages() {
  for (const TiedParameter& tie : model_.ties) {
    int owner_stage = stage_of_block(plan_, block_of_parameter(model_, tie.owner));
    int user_stage = stage_of_block(plan_, block_of_parameter(model_, tie.user));
    if (owner_stage == user_stage) {
      if (owner_stage == stage_) reduce_tied_gradients({tie}, parameters_);
      continue;
    }
    if (stage_ != owner_stage && stage_ != user_stage) continue;
    bool is_owner = stage_ == owner_stage;
    torch::Tensor mine = find_parameter(parameters_, is_owner ? tie.owner : tie.user);
    int peer = plan_.stages[is_owner ? user_stage : owner_stage].ranks[0];
    torch::Tensor grad = mine.grad().defined() ? mine.grad() : torch::zeros_like(mine);
    torch::Tensor theirs = torch::empty_like(grad, torch::MemoryFormat::Contiguous);
    auto sent = transport_.send(grad.contiguous(), peer);
    auto received = transport_.recv(theirs, peer);
    wait_for(*received, timeout_, "exchanging the tied gradient " + tie.owner);
    wait_for(*sent, timeout_, "exchanging the tied gradient " + tie.owner);
    torch::Tensor sum = is_owner ? grad + theirs : theirs + grad;
    torch::NoGradGuard no_grad;
    if (mine.grad().defined()) {
      mine.grad().copy_(sum);
    } else {
      mine.mutable_grad() = sum;
    }
  }
}

void PipelineTrainer::optimizer_step(std::int64_t /*step*/, StepResult& result) {
  if (config_.grad_clip > 0) {
    auto start = Clock::now();
    // Every rank fills its blocks' terms of a vector over all blocks; the all-reduce adds
    // zeros to them (exact), and every rank sums the terms in block order.
    std::set<std::string> users;
    for (const TiedParameter& tie : model_.ties) users.insert(tie.user);
    torch::Tensor terms =
        torch::zeros({static_cast<std::int64_t>(model_.blocks.size())}, torch::kDouble);
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      torch::Tensor term = torch::zeros({}, torch::kDouble);
      bool any = false;
      for (const NamedTensor& p : block_parameters(*blocks_[i])) {
        if (!p.tensor.grad().defined() || users.count(p.name)) continue;
        torch::Tensor square = p.tensor.grad().to(torch::kDouble).pow(2).sum().cpu();
        term = any ? term + square : square;
        any = true;
      }
      terms[first_block_ + static_cast<std::int64_t>(i)] = term;
    }
    transport_.all_reduce_sum(terms);
    std::vector<torch::Tensor> block_terms = terms.unbind(0);
    result.grad_norm = global_grad_norm(block_terms);
    clip_gradients(parameters_, *result.grad_norm, config_.grad_clip);
    times_.comm_ms += ms_since(start);
  }
  optimizer_.step(parameters_, result.lr);
}

void PipelineTrainer::run() {
  std::filesystem::path dir(config_.output);
  const int rank = transport_.rank();
  std::optional<MetricsWriter> metrics;
  std::optional<CsvWriter> rank_csv;
  if (!config_.output.empty()) {
    if (rank == 0) write_file_atomically(dir / "run.toml", config_to_toml(config_));
    if (is_last_stage() && plan_.stages.back().ranks[0] == rank)
      metrics.emplace(dir / "metrics.csv");
    rank_csv.emplace(dir / "ranks" / ("rank" + std::to_string(rank) + ".csv"),
                     std::vector<std::string>{"step", "stage", "forward_ms", "backward_ms",
                                              "comm_ms", "idle_ms", "step_ms"});
  }
  std::optional<Progress> progress;
  if (rank == 0) progress.emplace("step", config_.steps);
  for (std::int64_t step = 1; step <= config_.steps; ++step) {
    StepResult r = train_step(step);
    const StageTimes& t = times_;
    if (metrics) {
      metrics->write({step, r.loss, static_cast<double>(config_.batch_size) / (t.step_ms / 1e3),
                      r.lr, t.step_ms, r.grad_norm, std::nullopt, std::nullopt});
    }
    if (rank_csv) {
      rank_csv->write_row({step, static_cast<std::int64_t>(stage_), t.forward_ms, t.backward_ms,
                           t.comm_ms, t.idle_ms, t.step_ms});
    }
    if (progress) {
      char detail[96];
      std::snprintf(detail, sizeof(detail), "stage 0: %.1f ms/step, idle %.0f%%", t.step_ms,
                    100.0 * t.idle_ms / t.step_ms);
      progress->update(step, detail);
    }
  }
  if (progress) progress->finish();
  std::string name = "rank " + std::to_string(rank) + " (stage " + std::to_string(stage_) + ")";
  std::vector<std::string> events = transport_.gather_text(trace_.events_json(rank, name), 0);
  if (rank == 0 && !config_.output.empty()) {
    write_file_atomically(dir / "trace.json", merge_trace(events));
  }
  transport_.barrier();
}

}  // namespace repipe
