#include "engine/pipeline_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "common/atomic_file.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "common/precise_sleep.h"
#include "common/progress.h"
#include "common/text_format.h"
#include "engine/checkpoint.h"
#include "engine/gradients.h"
#include "engine/metrics.h"
#include "profiler/block_profiler.h"

namespace repipe {
namespace {

// No wait is unbounded: a neighbour silent this long has died or hangs.
constexpr auto kTimeout = std::chrono::seconds(120);

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
  return -1;
}

int stage_of_block(const Plan& plan, std::int64_t block) {
  const int stage = plan.stage_of_block(block);
  REPIPE_CHECK(stage >= 0, "no stage holds block " << block);
  return stage;
}

torch::Tensor find_parameter(const std::vector<NamedTensor>& parameters, const std::string& name) {
  for (const NamedTensor& p : parameters) {
    if (p.name == name) return p.tensor;
  }
  REPIPE_CHECK(false, "this stage has no parameter " << name);
  return {};
}

std::vector<int> sorted_union(std::vector<int> a, const std::vector<int>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  return a;
}

// The two stages holding a tie's copies.
std::pair<int, int> tie_stages(const Plan& plan, const Model& model, const TiedParameter& tie) {
  return {stage_of_block(plan, block_of_parameter(model, tie.owner)),
          stage_of_block(plan, block_of_parameter(model, tie.user))};
}

// Ranks that all-reduce together: each replicated stage's ranks, and the ranks of both ends
// of each tie across stages.
std::vector<std::vector<int>> collective_groups(const Plan& plan, const Model& model) {
  std::vector<std::vector<int>> groups;
  for (const StagePlan& stage : plan.stages) {
    if (stage.ranks.size() > 1) groups.push_back(sorted_union(stage.ranks, {}));
  }
  for (const TiedParameter& tie : model.ties) {
    auto [owner, user] = tie_stages(plan, model, tie);
    if (owner != user)
      groups.push_back(sorted_union(plan.stages[owner].ranks, plan.stages[user].ranks));
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  return groups;
}

// Fault injection for the failure tests: REPIPE_TEST_FAIL="<rank>:<step>" makes that rank throw
// when it starts that step, "<rank>:<step>:migration" in the middle of a migration before it.
void inject_test_failure(int rank, std::int64_t step, const std::string& where) {
  const char* spec = std::getenv("REPIPE_TEST_FAIL");
  if (spec == nullptr) return;
  int fail_rank = -1;
  long long fail_step = -1;
  char fail_where[16] = "step";
  if (std::sscanf(spec, "%d:%lld:%15s", &fail_rank, &fail_step, fail_where) >= 2 &&
      fail_rank == rank && fail_step == step && where == fail_where) {
    throw std::runtime_error("injected failure at " + where + " " + std::to_string(step) +
                             " (REPIPE_TEST_FAIL)");
  }
}

std::string microbatch_text(std::int64_t g, std::int64_t m) {
  return "micro-batch " + std::to_string(g % m) + " of step " + std::to_string(g / m + 1);
}

}  // namespace

PipelineTrainer::PipelineTrainer(const RunConfig& config, const Plan& plan,
                                 const ModelFactory& make_model, Transport& transport,
                                 torch::Device device)
    : config_(config),
      plan_(plan),
      model_(make_model()),
      make_model_(make_model),
      transport_(transport),
      device_(device),
      m_(config.microbatches),
      kind_(parse_schedule_kind(config.schedule)),
      data_(open_dataset(config.dataset, model_.sample, static_cast<std::uint64_t>(config.seed))),
      optimizer_(optimizer_config(config)),
      lr_(lr_schedule(config)),
      timeout_(kTimeout),
      injections_(parse_slowdown_injections(config.inject)),
      planned_(parse_planned_repartitions(config.repartition)),
      monitor_(static_cast<int>(plan.stages.size()),
               static_cast<std::int64_t>(model_.blocks.size()), config.monitor_every) {
  stage_ = plan_.stage_of_rank(transport_.rank());
  REPIPE_CHECK(stage_ >= 0, "rank " << transport_.rank() << " has no stage");
  stages_ = static_cast<int>(plan_.stages.size());
  const StagePlan& mine = plan_.stages[stage_];
  replica_ = static_cast<int>(std::find(mine.ranks.begin(), mine.ranks.end(), transport_.rank()) -
                              mine.ranks.begin());
  adopt_plan(plan_);
  initial_plan_ = plan_;
  dynamic_ = config.dynamic && plan_.world_size() == stages_;  // straight pipelines only
  if (dynamic_ && transport_.rank() == 0) detector_.emplace(transport_.size());
  if (!config.slowdown_predictor.empty()) start_load_meters();
}

void PipelineTrainer::start_load_meters() {
  // Every rank loads the folder, so a bad one is the same clear error on every rank.
  SlowdownPredictor predictor = SlowdownPredictor::load(config_.slowdown_predictor);
  if (transport_.rank() == 0) {
    predictor_.emplace(std::move(predictor));
    // On a copy: profiling runs forward and backward, which would touch this model's gradients
    // and normalisation statistics.
    Model copy = make_model_();
    ProfileOptions options;
    options.batch_size = config_.batch_size / m_;
    options.repeats = 1;
    options.warmup = 0;
    options.seed = static_cast<std::uint64_t>(config_.seed);
    const Profile profile = profile_model(copy, options);
    block_features_ = measure_block_features(copy, profile, options.batch_size, options.seed);
  }
  // One rank at a time: ranks sharing a machine would slow each other's calibration down.
  LoadProbeCalibration calibration;
  for (int r = 0; r < transport_.size(); ++r) {
    if (r == transport_.rank()) calibration = calibrate_load_probes();
    transport_.barrier();
  }
  load_meter_ = std::make_unique<LoadMeter>(std::vector<int>{}, true, calibration);
}

// This rank's stage of `plan`: its blocks, parameters, ties across stages and weight versions.
void PipelineTrainer::adopt_plan(const Plan& plan) {
  plan_ = plan;
  for (const std::vector<int>& group : collective_groups(plan_, model_)) {
    if (std::binary_search(group.begin(), group.end(), transport_.rank())) {
      transport_.add_group(group);  // new ties across stages; known groups are kept
    }
  }
  const StagePlan& mine = plan_.stages[stage_];
  first_block_ = mine.first_block;
  blocks_.clear();
  parameters_.clear();
  cross_stage_tied_.clear();
  for (std::int64_t b = mine.first_block; b <= mine.last_block; ++b) {
    blocks_.push_back(model_.blocks[b]);
    blocks_.back()->to(device_);
  }
  for (const BlockPtr& block : blocks_) {
    for (NamedTensor& p : block_parameters(*block)) parameters_.push_back(std::move(p));
  }
  for (const TiedParameter& tie : model_.ties) {
    auto [owner, user] = tie_stages(plan_, model_, tie);
    if (owner != user) cross_stage_tied_.insert({tie.owner, tie.user});
  }
  versions_.reset();
  if (kind_ == ScheduleKind::k1F1BStash) {
    const StagePlan stage_plan = mine;
    versions_ = std::make_unique<WeightVersions>(
        [make_model = make_model_, stage_plan] {
          Model copy = make_model();
          return std::vector<BlockPtr>(copy.blocks.begin() + stage_plan.first_block,
                                       copy.blocks.begin() + stage_plan.last_block + 1);
        },
        device_);
  }
}

// Micro-batch i of every step belongs to replica i mod R of a stage.
int PipelineTrainer::rank_of(std::int64_t g, int stage) const {
  const std::vector<int>& ranks = plan_.stages[stage].ranks;
  return ranks[static_cast<std::size_t>((g % m_) % static_cast<std::int64_t>(ranks.size()))];
}

bool PipelineTrainer::owns(std::int64_t g, int stage) const {
  return rank_of(g, stage) == transport_.rank();
}

InboundChannel& PipelineTrainer::channel_from(int peer) {
  auto& channel = inbound_[peer];
  if (!channel) channel = std::make_unique<InboundChannel>(transport_, peer);
  return *channel;
}

Bundle PipelineTrainer::wait_bundle(std::int64_t ticket, int peer, const std::string& what) {
  auto start = Clock::now();
  Bundle bundle = channel_from(peer).wait(ticket, timeout_, what);
  times_.idle_ms += ms_since(start);
  return bundle;
}

// The steps up to the next drain run as one schedule: one step for the flush kinds; for
// 1f1b-stash, up to the next evaluation or checkpoint (which need the pipeline empty) or the end.
void PipelineTrainer::start_segment(std::int64_t step) {
  std::int64_t last = step;
  if (kind_ == ScheduleKind::k1F1BStash) {
    last = config_.steps;
    for (std::int64_t every : {config_.eval_every, config_.checkpoint_every}) {
      if (every > 0) last = std::min(last, (step + every - 1) / every * every);
    }
    for (const PlannedRepartition& p : planned_) {
      if (p.step > step) last = std::min(last, p.step - 1);  // drained before it
    }
  }
  segment_first_step_ = step;
  segment_last_step_ = last;
  segment_ = segment_actions(step, last);
  next_action_ = 0;
}

// This rank's actions of the schedule that runs steps first..last without a flush.
std::vector<Action> PipelineTrainer::segment_actions(std::int64_t first, std::int64_t last) const {
  StepEndOptions options{.tied_weights = !model_.ties.empty(),
                         .replicated = plan_.world_size() > stages_};
  Schedule schedule =
      kind_ == ScheduleKind::k1F1BStash
          ? make_stash_schedule(stages_, static_cast<int>(m_), static_cast<int>(last - first + 1),
                                static_cast<int>(config_.in_flight), options)
          : make_schedule(kind_, stages_, static_cast<int>(m_), options);
  std::vector<Action> actions;
  const std::int64_t base = (first - 1) * m_;
  for (const Action& a : schedule[stage_]) {
    if (a.microbatch < 0 || owns(base + a.microbatch, stage_)) actions.push_back(a);
  }
  return actions;
}

// The first step after which the pipeline can drain, decided at the end of `step`. A flush
// schedule drains after every step. Under 1f1b-stash, stage s has run forwards up to
// `warm-up` micro-batches ahead when it ends a step; the segment can end after the step holding
// the furthest of them, and is cut there: the schedule of the shorter segment has the same
// actions up to its drain, so what ran stays valid.
std::int64_t PipelineTrainer::drain_after(std::int64_t step) {
  if (kind_ != ScheduleKind::k1F1BStash || segment_last_step_ <= step) return step;
  const int depth = config_.in_flight == 0 ? stages_ : std::min<int>(config_.in_flight, stages_);
  const std::int64_t last =
      std::min(segment_last_step_, step + std::max<std::int64_t>(1, (depth - 1 + m_ - 1) / m_));
  std::vector<Action> actions = segment_actions(segment_first_step_, last);
  REPIPE_CHECK(actions.size() >= next_action_ &&
                   std::equal(segment_.begin(), segment_.begin() + next_action_, actions.begin()),
               "the cut segment does not continue what ran");
  segment_ = std::move(actions);
  segment_last_step_ = last;
  return last;
}

Bundle PipelineTrainer::microbatch_data(std::int64_t g, bool targets) {
  auto& by_step = targets ? targets_by_step_ : inputs_by_step_;
  const std::int64_t step = g / m_ + 1;
  by_step.erase(by_step.begin(), by_step.lower_bound(step));  // forwards run in order
  if (by_step.count(step) == 0) fetch_step(step);
  return by_step.at(step).at(g % m_);
}

void PipelineTrainer::fetch_step(std::int64_t step) {
  LoaderOptions options;
  options.batch_size = config_.batch_size;
  options.microbatches = m_;
  for (std::int64_t j = 0; j < m_; ++j) {
    if (owns((step - 1) * m_ + j, stage_)) options.owned.push_back(j);
  }
  options.part = stage_ == 0 && is_last_stage() ? BatchPart::kBoth
                 : stage_ == 0                  ? BatchPart::kInputs
                                                : BatchPart::kTargets;
  options.first_step = step;
  options.last_step = config_.steps;
  options.pin_memory = device_.is_cuda();
  const bool same_share = loader_ && loader_->options().owned == options.owned &&
                          loader_->options().part == options.part;
  LoadedStep loaded;
  if (same_share) loaded = loader_->next();
  if (!same_share || loaded.step != step) {
    loader_.reset();  // its readers stop before the new ones start
    loader_ = std::make_unique<DataLoader>(*data_, options);
    loaded = loader_->next();
  }
  for (auto& [j, batch] : loaded.microbatches) {
    if (wants_inputs(options.part)) inputs_by_step_[step][j] = bundle_to(batch.inputs, device_);
    if (wants_targets(options.part)) targets_by_step_[step][j] = bundle_to(batch.targets, device_);
  }
}

StepResult PipelineTrainer::train_step(std::int64_t step) {
  auto step_start = Clock::now();
  times_ = {};
  monitoring_ = step != unmonitored_step_;
  if (step > segment_last_step_) start_segment(step);
  for (const BlockPtr& block : blocks_) block->train(true);

  StepResult result;
  result.loss = std::numeric_limits<double>::quiet_NaN();
  result.lr = lr_.at(step);
  const std::int64_t base = (segment_first_step_ - 1) * m_;
  while (next_action_ < segment_.size()) {
    const Action& action = segment_[next_action_++];
    std::int64_t start = TraceRecorder::now_us();
    if (action.op == Op::kOptimizerStep) {
      optimizer_step(step, result);
      trace_.record(to_string(action), start, TraceRecorder::now_us());
      break;
    }
    execute(action, base + action.microbatch);
    trace_.record(to_string(action), start, TraceRecorder::now_us());
  }
  if (step == segment_last_step_) {
    REPIPE_CHECK(next_action_ == segment_.size(), "actions left after the segment's last step");
    flush_sends();
  }
  if (versions_) times_.weight_versions = versions_->most();
  if (monitoring_) {
    monitor_.add_stage(stage_, step, times_.forward_ms + times_.backward_ms, times_.microbatches);
  }
  times_.step_ms = ms_since(step_start);
  return result;
}

double PipelineTrainer::slow_down(double compute_ms, std::int64_t step) {
  const double factor = slowdown_factor(injections_, transport_.rank(), step);
  if (factor <= 1) return 0;
  auto start = Clock::now();
  sleep_precisely(
      std::chrono::nanoseconds(static_cast<std::int64_t>((factor - 1) * compute_ms * 1e6)));
  const double slept = ms_since(start);
  times_.injected_ms += slept;
  return slept;
}

void PipelineTrainer::flush_sends() {
  auto start = Clock::now();
  for (OutgoingBundle& out : outgoing_) out.wait(timeout_, "sending to a neighbour stage");
  outgoing_.clear();
  times_.idle_ms += ms_since(start);
}

void PipelineTrainer::execute(const Action& action, std::int64_t g) {
  auto start = Clock::now();
  switch (action.op) {
    case Op::kRecvActivation:
      in_flight_[g].activation_ticket = channel_from(rank_of(g, stage_ - 1)).expect();
      times_.comm_ms += ms_since(start);
      return;
    case Op::kForward:
      forward(g);
      return;
    case Op::kSendActivation: {
      std::erase_if(outgoing_, [](OutgoingBundle& out) { return out.done(); });
      outgoing_.emplace_back(transport_, in_flight_[g].output, rank_of(g, stage_ + 1));
      times_.comm_ms += ms_since(start);
      return;
    }
    case Op::kRecvGrad:
      in_flight_[g].grad_ticket = channel_from(rank_of(g, stage_ + 1)).expect();
      times_.comm_ms += ms_since(start);
      return;
    case Op::kBackward:
      backward(g);
      if (stage_ == 0) in_flight_.erase(g);
      return;
    case Op::kSendGrad: {
      Bundle grads;
      for (const auto& [name, tensor] : in_flight_[g].input) {
        if (!tensor.requires_grad()) continue;
        grads[name] = tensor.grad().defined() ? tensor.grad() : torch::zeros_like(tensor);
      }
      std::erase_if(outgoing_, [](OutgoingBundle& out) { return out.done(); });
      outgoing_.emplace_back(transport_, grads, rank_of(g, stage_ - 1));
      in_flight_.erase(g);
      times_.comm_ms += ms_since(start);
      return;
    }
    case Op::kReduceTiedGrads:
      reduce_tied_gradients_across_stages();
      times_.comm_ms += ms_since(start);
      return;
    case Op::kReduceGrads:
      reduce_gradients_across_replicas();
      times_.comm_ms += ms_since(start);
      return;
    case Op::kOptimizerStep:
      REPIPE_CHECK(false, "the optimizer step is executed by train_step");
      return;
  }
}

void PipelineTrainer::forward(std::int64_t g) {
  Microbatch& mb = in_flight_[g];
  Bundle x = stage_ == 0
                 ? microbatch_data(g, false)
                 : wait_bundle(mb.activation_ticket, rank_of(g, stage_ - 1),
                               "stage " + std::to_string(stage_) +
                                   " waiting for the activations of " + microbatch_text(g, m_));
  auto start = Clock::now();
  mb.input = x;
  const std::vector<BlockPtr>* blocks = &blocks_;
  if (versions_) {
    mb.version_slot = versions_->acquire(blocks_, updates_);
    blocks = &versions_->blocks(mb.version_slot);
  }
  const std::int64_t step = g / m_ + 1;
  if (monitoring_) mb.clock.emplace(blocks->size());
  for (std::size_t i = 0; i < blocks->size(); ++i) {
    Block& block = *(*blocks)[i];
    seed_block_forward(block, static_cast<std::uint64_t>(config_.seed), step, g % m_);
    auto block_start = Clock::now();
    x = block.forward(x);
    if (mb.clock) mb.clock->forward_done(i, ms_since(block_start), x);
  }
  if (versions_) versions_->return_buffers(mb.version_slot, blocks_);
  if (is_last_stage()) {
    mb.loss = model_.loss(x, microbatch_data(g, true));
    torch::Tensor& sum = loss_sums_[step];
    torch::Tensor loss = mb.loss.detach().to(torch::kDouble).cpu();
    sum = sum.defined() ? sum + loss : loss;
  } else {
    mb.output = std::move(x);
  }
  ++times_.microbatches;
  const double compute_ms = ms_since(start);
  times_.forward_ms += compute_ms + slow_down(compute_ms, step);
}

void PipelineTrainer::record_block_times(Microbatch& mb, Clock::time_point backward_start) {
  if (!mb.clock) return;
  mb.clock->backward_done(backward_start, Clock::now());
  for (std::size_t i = 0; i < mb.clock->forward_ms().size(); ++i) {
    monitor_.add_block(first_block_ + static_cast<std::int64_t>(i), mb.clock->forward_ms()[i],
                       mb.clock->backward_ms()[i], mb.clock->output_bytes()[i]);
  }
  mb.clock.reset();
}

void PipelineTrainer::backward(std::int64_t g) {
  Microbatch& mb = in_flight_[g];
  if (is_last_stage()) {
    auto start = Clock::now();
    (mb.loss / static_cast<double>(m_)).backward();
    mb.loss = torch::Tensor();
    record_block_times(mb, start);
    const double compute_ms = ms_since(start);
    times_.backward_ms += compute_ms + slow_down(compute_ms, g / m_ + 1);
  } else {
    Bundle grads = wait_bundle(mb.grad_ticket, rank_of(g, stage_ + 1),
                               "stage " + std::to_string(stage_) +
                                   " waiting for the gradients of " + microbatch_text(g, m_));
    auto start = Clock::now();
    std::vector<torch::Tensor> outputs;
    std::vector<torch::Tensor> output_grads;
    for (const auto& [name, grad] : grads) {
      auto it = mb.output.find(name);
      REPIPE_CHECK(it != mb.output.end(), "gradient for unknown output " << name);
      outputs.push_back(it->second);
      output_grads.push_back(grad.to(device_));
    }
    if (!outputs.empty()) torch::autograd::backward(outputs, output_grads);
    mb.output.clear();
    record_block_times(mb, start);
    const double compute_ms = ms_since(start);
    times_.backward_ms += compute_ms + slow_down(compute_ms, g / m_ + 1);
  }
  if (versions_) versions_->release(mb.version_slot, blocks_);
}

// A tie's two copies may live on two stages (and their replicas): all of those ranks sum their
// gradients, so each copy ends with owner + user (for two ranks exactly the single process's
// sum). Ties within one stage are summed locally.
void PipelineTrainer::reduce_tied_gradients_across_stages() {
  for (const TiedParameter& tie : model_.ties) {
    auto [owner_stage, user_stage] = tie_stages(plan_, model_, tie);
    if (owner_stage == user_stage) {
      if (owner_stage == stage_) reduce_tied_gradients({tie}, parameters_);
      continue;
    }
    if (stage_ != owner_stage && stage_ != user_stage) continue;
    torch::Tensor mine = find_parameter(parameters_, stage_ == owner_stage ? tie.owner : tie.user);
    torch::Tensor grad = mine.grad().defined() ? mine.grad().detach().cpu().contiguous().clone()
                                               : torch::zeros_like(mine, torch::kCPU);
    transport_.all_reduce_sum(
        grad, sorted_union(plan_.stages[owner_stage].ranks, plan_.stages[user_stage].ranks));
    mine.mutable_grad() = grad.to(device_);
  }
}

// Replicas sum their gradients (of the micro-batches each ran) in one flat all-reduce.
void PipelineTrainer::reduce_gradients_across_replicas() {
  const std::vector<int>& ranks = plan_.stages[stage_].ranks;
  if (ranks.size() < 2) return;
  std::vector<torch::Tensor> grads;
  std::vector<NamedTensor> reduced;
  for (const NamedTensor& p : parameters_) {
    if (cross_stage_tied_.count(p.name)) continue;  // TIED summed it over every copy
    torch::Tensor grad = p.tensor.grad().defined() ? p.tensor.grad() : torch::zeros_like(p.tensor);
    grads.push_back(grad.detach().cpu().reshape({-1}));
    reduced.push_back(p);
  }
  if (grads.empty()) return;
  torch::Tensor flat = torch::cat(grads);
  transport_.all_reduce_sum(flat, sorted_union(ranks, {}));
  std::int64_t offset = 0;
  for (const NamedTensor& p : reduced) {
    const std::int64_t n = p.tensor.numel();
    p.tensor.mutable_grad() = flat.narrow(0, offset, n).view_as(p.tensor).to(device_).clone();
    offset += n;
  }
}

void PipelineTrainer::optimizer_step(std::int64_t step, StepResult& result) {
  auto start = Clock::now();
  if (config_.grad_clip > 0) {
    // Every stage fills its blocks' terms of a vector over all blocks (replica 0 only: the
    // replicas hold the same sums); the all-reduce adds zeros to them (exact), and every rank
    // adds the terms in block order, as the single process does.
    std::set<std::string> users;
    for (const TiedParameter& tie : model_.ties) users.insert(tie.user);
    torch::Tensor terms =
        torch::zeros({static_cast<std::int64_t>(model_.blocks.size())}, torch::kDouble);
    for (std::size_t i = 0; i < blocks_.size() && replica_ == 0; ++i) {
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
    result.grad_norm = global_grad_norm(terms.unbind(0));
    clip_gradients(parameters_, *result.grad_norm, config_.grad_clip);
  }
  if (is_last_stage()) {
    torch::Tensor sum =
        loss_sums_.count(step) ? loss_sums_[step] : torch::zeros({}, torch::kDouble);
    loss_sums_.erase(step);
    const std::vector<int>& ranks = plan_.stages[stage_].ranks;
    if (ranks.size() > 1) transport_.all_reduce_sum(sum, sorted_union(ranks, {}));
    result.loss = sum.item<double>() / static_cast<double>(m_);
  }
  times_.comm_ms += ms_since(start);
  optimizer_.step(parameters_, result.lr);
  for (const NamedTensor& p : parameters_) p.tensor.mutable_grad() = torch::Tensor();
  ++updates_;
}

std::optional<EvalResult> PipelineTrainer::evaluate() {
  REPIPE_CHECK(next_action_ == segment_.size(), "evaluation while micro-batches are in flight");
  flush_sends();
  torch::NoGradGuard no_grad;
  for (const BlockPtr& block : blocks_) block->train(false);
  torch::Tensor totals = torch::zeros({3}, torch::kDouble);  // loss sum, correct, predictions
  for (std::int64_t b = 0; b < config_.eval_batches; ++b) {
    std::vector<Bundle> inputs;
    std::vector<Bundle> targets;
    if (stage_ == 0 || is_last_stage()) {
      Batch batch = data_->batch(DataStream::kHeldOut, b, config_.batch_size);
      if (stage_ == 0) inputs = split_bundle(bundle_to(batch.inputs, device_), m_);
      if (is_last_stage()) targets = split_bundle(bundle_to(batch.targets, device_), m_);
    }
    for (std::int64_t i = 0; i < m_; ++i) {
      if (!owns(i, stage_)) continue;
      Bundle x;
      if (stage_ == 0) {
        x = inputs[static_cast<std::size_t>(i)];
      } else {
        int peer = rank_of(i, stage_ - 1);
        x = wait_bundle(channel_from(peer).expect(), peer,
                        "stage " + std::to_string(stage_) + " waiting for evaluation activations");
      }
      for (const BlockPtr& block : blocks_) x = block->forward(x);
      if (is_last_stage()) {
        const Bundle& y = targets[static_cast<std::size_t>(i)];
        totals[0] += model_.loss(x, y).item<double>();
        auto [hits, count] = model_.correct(x, y);
        totals[1] += static_cast<double>(hits);
        totals[2] += static_cast<double>(count);
      } else {
        outgoing_.emplace_back(transport_, x, rank_of(i, stage_ + 1));
      }
    }
  }
  flush_sends();
  if (!is_last_stage()) return std::nullopt;
  const std::vector<int>& ranks = plan_.stages[stage_].ranks;
  if (ranks.size() > 1) transport_.all_reduce_sum(totals, sorted_union(ranks, {}));
  return EvalResult{totals[0].item<double>() / static_cast<double>(config_.eval_batches * m_),
                    totals[1].item<double>() / totals[2].item<double>()};
}

namespace {

// The rank that holds `block` under a straight plan.
int owner_of_block(const Plan& plan, std::int64_t block) {
  return plan.stages[stage_of_block(plan, block)].ranks.front();
}

// A block's state as bundles, small enough for a bundle header each: one per parameter ("p"
// the tensor, "n" its update count and "s:<slot>" its optimizer slots), then one per buffer
// ("b"). Sender and receiver hold the same block, so they agree on the order and the count.
std::vector<Bundle> block_state(const Block& block, Optimizer& optimizer) {
  std::vector<Bundle> state;
  for (const NamedTensor& p : block_parameters(block)) {
    Bundle& bundle = state.emplace_back();
    bundle["p"] = p.tensor.detach();
    auto it = optimizer.state().find(p.name);
    if (it == optimizer.state().end()) continue;
    bundle["n"] = torch::full({1}, it->second.step, torch::kLong);
    for (const auto& [slot, tensor] : it->second.slots) bundle["s:" + slot] = tensor;
  }
  for (const auto& b : block.named_buffers()) state.push_back({{"b", b.value()}});
  return state;
}

std::int64_t state_bundle_count(const Block& block) {
  return static_cast<std::int64_t>(block.parameters().size() + block.buffers().size());
}

void load_block_state(Block& block, const std::vector<Bundle>& state, Optimizer& optimizer,
                      torch::Device device) {
  torch::NoGradGuard no_grad;
  std::size_t next = 0;
  for (const NamedTensor& p : block_parameters(block)) {
    const Bundle& bundle = state.at(next++);
    p.tensor.copy_(bundle.at("p"));
    auto step = bundle.find("n");
    if (step == bundle.end()) {
      optimizer.state().erase(p.name);
      continue;
    }
    ParameterState& target = optimizer.state()[p.name];
    target.step = step->second.item<std::int64_t>();
    target.slots.clear();
    for (const auto& [key, tensor] : bundle) {
      if (key.rfind("s:", 0) == 0) target.slots[key.substr(2)] = tensor.to(device).clone();
    }
  }
  for (auto& b : block.named_buffers()) b.value().copy_(state.at(next++).at("b"));
}

}  // namespace

PipelineTrainer::Migration PipelineTrainer::repartition(const Plan& plan) {
  REPIPE_CHECK(next_action_ == segment_.size(), "repartition while micro-batches are in flight");
  REPIPE_CHECK(plan.stages.size() == plan_.stages.size(), "repartition to another stage count");
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    REPIPE_CHECK(plan.stages[s].ranks == plan_.stages[s].ranks && plan.stages[s].ranks.size() == 1,
                 "repartition keeps a straight pipeline's ranks");
  }
  flush_sends();
  transport_.barrier();  // the drain ends at different times on each rank; time the move alone
  auto start = Clock::now();
  Migration migration;
  const int rank = transport_.rank();
  // Every rank walks the blocks in the same order; sends never block, so each wait's message
  // is already posted or will be by a rank that is not waiting on this one.
  for (std::int64_t b = 0; b < static_cast<std::int64_t>(model_.blocks.size()); ++b) {
    const int from = owner_of_block(plan_, b);
    const int to = owner_of_block(plan, b);
    if (from == to) continue;
    if (migration.blocks_moved == 1) inject_test_failure(rank, updates_ + 1, "migration");
    ++migration.blocks_moved;
    Block& block = *model_.blocks[b];
    if (rank == from) {
      for (const Bundle& bundle : block_state(block, optimizer_)) {
        migration.bytes_moved += bundle_bytes(bundle);
        outgoing_.emplace_back(transport_, bundle_to(bundle, torch::kCPU), to);
      }
      for (const NamedTensor& p : block_parameters(block)) optimizer_.state().erase(p.name);
    } else if (rank == to) {
      std::vector<Bundle> state;
      for (std::int64_t i = 0; i < state_bundle_count(block); ++i) {
        state.push_back(wait_bundle(
            channel_from(from).expect(), from,
            "receiving block " + block.block_name() + " from rank " + std::to_string(from)));
        migration.bytes_moved += bundle_bytes(state.back());
      }
      load_block_state(block, state, optimizer_, device_);
    }
  }
  flush_sends();
  adopt_plan(plan);
  migration.ms = ms_since(start);
  return migration;
}

void PipelineTrainer::run_repartition(const Plan& plan, std::int64_t step,
                                      const RepartitionReason& reason) {
  const std::string old_plan = plan_blocks_text(plan_);
  const std::int64_t start_us = TraceRecorder::now_us();
  const Migration moved = repartition(plan);
  trace_.record("REPARTITION", start_us, TraceRecorder::now_us());
  unmonitored_step_ = step;  // new blocks on a rank warm up
  monitor_.discard_window();
  if (detector_) detector_->calibrate_next();
  ++plan_version_;
  // One all-reduce: [bytes as sent (sender and receiver each count a moved block), each
  // stage's time]; the migration took the slowest stage's time.
  torch::Tensor totals = torch::zeros({1 + stages_}, torch::kDouble);
  totals[0] = static_cast<double>(moved.bytes_moved) / 2;
  totals[1 + stage_] = moved.ms;
  transport_.all_reduce_sum(totals);
  const double bytes = totals[0].item<double>();
  const double ms = totals.narrow(0, 1, stages_).max().item<double>();
  if (transport_.rank() != 0) return;
  if (replanner_) replanner_->record_migration(static_cast<std::int64_t>(bytes), ms);
  std::string line = "step " + std::to_string(step) + ": " + reason.cause + ": repartitioned " +
                     old_plan + " -> " + plan_blocks_text(plan_) + " (plan v" +
                     std::to_string(plan_version_) + ")";
  char text[256];
  if (const Replan* r = reason.replan) {
    std::snprintf(text, sizeof(text), ": predicted %.1f -> %.1f ms/step, gain %s over %lld steps",
                  r->step_ms_now, r->step_ms_new, human_duration_ms(r->gain_ms).c_str(),
                  static_cast<long long>(r->steps_left));
    line += text;
  }
  std::snprintf(text, sizeof(text), "; moved %lld blocks, %s in %.1f ms",
                static_cast<long long>(moved.blocks_moved), human_bytes(bytes).c_str(), ms);
  line += text;
  progress_->note(line);  // run() holds the progress line on rank 0
  if (repartitions_csv_) {
    std::vector<CsvCell> row{
        step,     reason.decided_step,    static_cast<std::int64_t>(plan_version_), reason.cause,
        old_plan, plan_blocks_text(plan_)};
    const Replan* r = reason.replan;
    for (double predicted : {r ? r->step_ms_now : 0, r ? r->step_ms_new : 0, r ? r->gain_ms : 0,
                             r ? r->migration_ms : 0}) {
      row.push_back(r ? CsvCell(predicted) : CsvCell(std::string()));  // planned: no prediction
    }
    row.insert(row.end(), {moved.blocks_moved, static_cast<std::int64_t>(bytes), ms});
    repartitions_csv_->write_row(row);
  }
}

Replanner PipelineTrainer::make_replanner(const Profile& reference) const {
  Profile profile = reference;
  std::vector<std::int64_t> state_bytes;
  const int slots = optimizer_state_slots(optimizer_.config());
  for (std::size_t b = 0; b < model_.blocks.size(); ++b) {
    const std::int64_t params = block_parameter_bytes(*model_.blocks[b]);
    std::int64_t buffers = 0;
    for (const torch::Tensor& buffer : model_.blocks[b]->buffers()) buffers += tensor_bytes(buffer);
    profile.blocks[b].name = model_.blocks[b]->block_name();
    profile.blocks[b].param_bytes = params;
    state_bytes.push_back(params * (1 + slots) + buffers);
  }
  TrainingSetup setup{
      .schedule = kind_, .microbatches = static_cast<int>(m_), .optimizer_state_copies = slots};
  return Replanner(std::move(profile), monitor_.reference_overhead_ms(), std::move(state_bytes),
                   initial_plan_, setup);
}

void PipelineTrainer::exchange_loads(const MonitorWindow& window, std::int64_t step) {
  // One rank at a time, the others waiting: each rank's micro-probes then meet only the load
  // from outside the job, as the probes of the interference dataset met only their co-runners.
  LoadFeatures mine;
  for (int r = 0; r < transport_.size(); ++r) {
    if (r == transport_.rank()) mine = load_meter_->read();
    transport_.barrier();
  }
  const std::vector<double> fields = {
      mine.cpu_util,         mine.probe_core_util, mine.run_queue,       mine.ctx_switches_per_s,
      mine.compute_fraction, mine.memory_fraction, mine.llc_misses_per_s};
  const std::size_t n = fields.size();
  std::vector<double> all(n * static_cast<std::size_t>(transport_.size()), 0.0);
  std::copy(fields.begin(), fields.end(), all.begin() + n * transport_.rank());
  torch::Tensor shared =
      torch::from_blob(all.data(), {static_cast<std::int64_t>(all.size())}, torch::kDouble);
  transport_.all_reduce_sum(shared);
  if (transport_.rank() != 0 || !monitor_.reference()) return;

  if (!stage_slowdown_) {  // the reference window: its loads are the reference loads
    stage_slowdown_.emplace(std::move(*predictor_), std::move(block_features_),
                            *monitor_.reference(), transport_.size());
    predictor_.reset();
  }
  std::vector<LoadFeatures> loads;
  for (int r = 0; r < transport_.size(); ++r) {
    const double* f = all.data() + n * r;
    loads.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6]});
    stage_slowdown_->set_load(r, loads.back());
  }
  for (int s = 0; s < stages_ && predictions_csv_; ++s) {
    const StagePlan& stage = plan_.stages[static_cast<std::size_t>(s)];
    const int rank = stage.ranks.front();
    const LoadFeatures& load = loads[static_cast<std::size_t>(rank)];
    predictions_csv_->write_row(
        {step, static_cast<std::int64_t>(s), static_cast<std::int64_t>(rank),
         window.slowdown[static_cast<std::size_t>(s)],
         stage_slowdown_->predict_change(rank, stage.first_block, stage.last_block),
         stage_slowdown_->predict(rank, stage.first_block, stage.last_block), load.cpu_util,
         load.probe_core_util, load.run_queue, load.compute_fraction, load.memory_fraction});
  }
}

void PipelineTrainer::rebalance(const MonitorWindow& window, std::int64_t step) {
  // Rank 0 decides; [repartition?, each stage's first block] reaches every rank in one
  // all-reduce, so all ranks move to the same plan version.
  std::vector<double> decision(static_cast<std::size_t>(1 + stages_), 0.0);
  std::optional<Replan> replan;
  std::string cause;
  if (transport_.rank() == 0) {
    if (!replanner_ && monitor_.reference()) {
      replanner_.emplace(make_replanner(*monitor_.reference()));
      if (stage_slowdown_) {
        replanner_->set_stage_slowdown([this](int rank, std::int64_t first, std::int64_t last) {
          return stage_slowdown_->predict(rank, first, last);
        });
      }
    }
    if (replanner_ && detector_->update(window, plan_)) {
      cause = detector_->change();
      replan = replanner_->consider(detector_->slowdown(), plan_, config_.steps - step);
      if (replan->repartition) {
        decision[0] = 1;
        for (int s = 0; s < stages_; ++s) {
          decision[static_cast<std::size_t>(1 + s)] =
              static_cast<double>(replan->plan.stages[static_cast<std::size_t>(s)].first_block);
        }
      } else {
        char text[160];
        std::snprintf(text, sizeof(text), ": keeping plan v%d (%s; predicted %.1f -> %.1f ms/step)",
                      plan_version_, replan->why_not.c_str(), replan->step_ms_now,
                      replan->step_ms_new);
        progress_->note("step " + std::to_string(step) + ": " + cause + text);
      }
    }
  }
  torch::Tensor shared = torch::from_blob(decision.data(), {1 + stages_}, torch::kDouble);
  transport_.all_reduce_sum(shared);
  if (decision[0] == 0) return;
  Plan next = plan_;
  for (int s = 0; s < stages_; ++s) {
    StagePlan& stage = next.stages[static_cast<std::size_t>(s)];
    stage.first_block = static_cast<std::int64_t>(decision[static_cast<std::size_t>(1 + s)]);
    stage.last_block =
        s + 1 < stages_ ? static_cast<std::int64_t>(decision[static_cast<std::size_t>(2 + s)]) - 1
                        : static_cast<std::int64_t>(model_.blocks.size()) - 1;
  }
  pending_ =
      PendingRepartition{drain_after(step) + 1, step, std::move(next), cause, std::move(replan)};
}

std::int64_t PipelineTrainer::resume_from(const std::string& checkpoint) {
  std::int64_t step =
      load_blocks_from_checkpoint(latest_checkpoint(checkpoint), blocks_, model_.ties, optimizer_);
  updates_ = step;
  segment_last_step_ = step;  // the next step starts a new segment
  return step;
}

void PipelineTrainer::write_checkpoint(std::int64_t step) {
  REPIPE_CHECK(next_action_ == segment_.size(), "checkpoint while micro-batches are in flight");
  std::filesystem::path folder =
      checkpoint_step_folder(std::filesystem::path(config_.output) / "checkpoints", step);
  if (replica_ == 0) {
    write_stage_checkpoint(folder / stage_checkpoint_file_name(stage_), blocks_, model_.ties,
                           optimizer_, step);
  }
  transport_.barrier();
  if (transport_.rank() == 0) {
    std::vector<std::vector<std::string>> names;
    for (const StagePlan& stage : plan_.stages) {
      std::vector<std::string>& blocks = names.emplace_back();
      for (std::int64_t b = stage.first_block; b <= stage.last_block; ++b) {
        blocks.push_back(model_.blocks[b]->block_name());
      }
    }
    write_checkpoint_manifest(folder, step, names);
  }
}

void PipelineTrainer::run() {
  std::filesystem::path dir(config_.output);
  const int rank = transport_.rank();
  const bool writes = !config_.output.empty();
  std::optional<MetricsWriter> metrics;
  std::optional<CsvWriter> rank_csv;
  if (writes) {
    if (rank == 0) write_file_atomically(dir / "run.toml", config_to_toml(config_));
    if (reports()) metrics.emplace(dir / "metrics.csv");
    rank_csv.emplace(
        dir / "ranks" / ("rank" + std::to_string(rank) + ".csv"),
        std::vector<std::string>{"step", "stage", "forward_ms", "backward_ms", "comm_ms", "idle_ms",
                                 "step_ms", "weight_versions", "injected_ms"});
  }
  if (rank == 0 && writes) {
    monitor_csv_.emplace(dir / "monitor.csv",
                         std::vector<std::string>{"step", "stage", "compute_ms_per_microbatch",
                                                  "baseline_ms", "slowdown"});
    if (!planned_.empty() || dynamic_) {
      repartitions_csv_.emplace(
          dir / "repartitions.csv",
          std::vector<std::string>{"step", "decided_step", "plan_version", "cause", "old_plan",
                                   "new_plan", "predicted_ms_before", "predicted_ms_after",
                                   "predicted_gain_ms", "predicted_migration_ms", "blocks_moved",
                                   "bytes_moved", "ms"});
    }
    if (load_meter_) {
      predictions_csv_.emplace(
          dir / "predictions.csv",
          std::vector<std::string>{"step", "stage", "rank", "measured_slowdown",
                                   "predicted_slowdown", "predicted_vs_alone", "load_cpu_util",
                                   "load_core_util", "load_run_queue", "load_compute_fraction",
                                   "load_memory_fraction"});
    }
  }
  const std::int64_t first_step = config_.resume.empty() ? 1 : resume_from(config_.resume) + 1;
  unmonitored_step_ = first_step;  // the first step warms up (allocations, first touch)
  if (rank == 0) {
    progress_.emplace("step", config_.steps);
    if (config_.dynamic && !dynamic_) {
      progress_->note(
          "--dynamic: the plan has replicated stages and live repartitioning moves blocks "
          "along a straight pipeline, so it stays off (the monitor still runs)");
    }
  }
  if (load_meter_) load_meter_->start();
  for (std::int64_t step = first_step; step <= config_.steps; ++step) {
    inject_test_failure(rank, step, "step");
    for (const PlannedRepartition& planned : planned_) {
      if (planned.step == step) run_repartition(planned.plan, step, {"planned", step - 1});
    }
    if (pending_ && pending_->step == step) {
      const PendingRepartition decided = std::move(*pending_);
      pending_.reset();
      run_repartition(
          decided.plan, step,
          {decided.cause, decided.decided_step, decided.replan ? &*decided.replan : nullptr});
    }
    StepResult r = train_step(step);
    if (load_meter_) load_meter_->sample_run_queue();
    const RankStepTimes t = times_;
    StepMetrics row{step, r.loss,    static_cast<double>(config_.batch_size) / (t.step_ms / 1e3),
                    r.lr, t.step_ms, r.grad_norm,
                    {},   {}};
    if (config_.eval_every > 0 && (step % config_.eval_every == 0 || step == config_.steps)) {
      if (std::optional<EvalResult> e = evaluate()) {
        row.eval_loss = e->loss;
        row.eval_accuracy = e->accuracy;
      }
    }
    if (config_.checkpoint_every > 0 &&
        (step % config_.checkpoint_every == 0 || step == config_.steps)) {
      write_checkpoint(step);
    }
    if (step % config_.monitor_every == 0 || step == config_.steps) {
      // Every rank sums the window (one all-reduce); rank 0 writes monitor.csv.
      const MonitorWindow window = monitor_.exchange(step, plan_, [&](std::vector<double>& values) {
        torch::Tensor shared = torch::from_blob(
            values.data(), {static_cast<std::int64_t>(values.size())}, torch::kDouble);
        transport_.all_reduce_sum(shared);
      });
      for (int s = 0; s < stages_ && monitor_csv_; ++s) {
        const auto i = static_cast<std::size_t>(s);
        monitor_csv_->write_row({step, static_cast<std::int64_t>(s), window.compute_ms[i],
                                 window.expected_ms[i], window.slowdown[i]});
      }
      if (load_meter_) exchange_loads(window, step);
      if (dynamic_ && !pending_ && step < config_.steps) rebalance(window, step);
    }
    if (metrics) metrics->write(row);
    if (rank_csv) {
      rank_csv->write_row({step, static_cast<std::int64_t>(stage_), t.forward_ms, t.backward_ms,
                           t.comm_ms, t.idle_ms, t.step_ms,
                           static_cast<std::int64_t>(t.weight_versions), t.injected_ms});
    }
    if (progress_) {
      char detail[96];
      std::snprintf(detail, sizeof(detail), "stage 0: %.1f ms/step, idle %.0f%%", t.step_ms,
                    100.0 * t.idle_ms / t.step_ms);
      progress_->update(step, detail);
    }
  }
  if (progress_) progress_->finish();
  progress_.reset();
  std::string name = "rank " + std::to_string(rank) + " (stage " + std::to_string(stage_) + ")";
  std::vector<std::string> events = transport_.gather_text(trace_.events_json(rank, name), 0);
  if (rank == 0 && writes) {
    write_file_atomically(dir / "trace.json", merge_trace(events));
  }
  transport_.barrier();
}

}  // namespace repipe
