// engine/pipeline_trainer.h: one rank of a pipeline: its stage's blocks, run as a loop over
// this rank's actions of the schedule.
//
// The arithmetic is the reference trainer's (engine/reference_trainer.h), spread over stages:
// the first stage reads the inputs and the last the targets of the same batch; each stage runs
// its blocks with the same per-block seeding; the last stage divides each micro-batch loss by
// m before its backward; gradients accumulate in micro-batch order; tied gradients are summed
// owner + user; the global norm adds per-block terms in block order. So a pipeline reproduces
// the single-process run bit for bit (tests/engine/pipeline_equivalence_test.cc).
//
// Replicas: a stage on R ranks gives micro-batch i to its replica i mod R; replicas sum their
// gradients with an all-reduce (REDUCE) before the optimizer step, as in PipeDream's hybrid
// plans. Under 1f1b-stash the schedule runs steps back to back without a flush (until the next
// evaluation, checkpoint or the end), and forwards run on stashed weight versions
// (engine/weight_versions.h).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "common/csv_writer.h"
#include "common/progress.h"
#include "common/run_config.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/synthetic.h"
#include "engine/block_clock.h"
#include "engine/bundle_channel.h"
#include "engine/lr_schedule.h"
#include "engine/optimizer.h"
#include "engine/planned_repartition.h"
#include "engine/reference_trainer.h"
#include "engine/replanner.h"
#include "engine/slowdown_detector.h"
#include "engine/slowdown_injection.h"
#include "engine/stage_monitor.h"
#include "engine/stage_slowdown_model.h"
#include "engine/trace.h"
#include "engine/transport/transport.h"
#include "engine/weight_versions.h"
#include "models/model.h"
#include "partitioner/plan.h"
#include "partitioner/schedule.h"
#include "profiler/load_sampler.h"

namespace repipe {

// Time one rank spent in one step, by kind (ranks/rank<R>.csv).
struct RankStepTimes {
  double forward_ms = 0;
  double backward_ms = 0;
  double comm_ms = 0;      // posting sends and receives, all-reducing gradients, norms and losses
  double idle_ms = 0;      // blocked, waiting for a neighbour's message
  double injected_ms = 0;  // slept for an injected slowdown (inside forward_ms and backward_ms)
  int microbatches = 0;    // forwards this rank ran
  double step_ms = 0;
  int weight_versions = 1;  // weight versions held at once (1f1b-stash), at most this step
};

class PipelineTrainer {
 public:
  using ModelFactory = std::function<Model()>;

  // `make_model` builds the whole model (the same weights every call); this rank keeps the
  // blocks of its stage in `plan` (and, under 1f1b-stash, more copies of them as versions).
  PipelineTrainer(const RunConfig& config, const Plan& plan, const ModelFactory& make_model,
                  Transport& transport, torch::Device device);

  // Trains step `step` (1-based; steps run in order). The loss is known on the last stage.
  StepResult train_step(std::int64_t step);
  // Held-out loss and accuracy through the pipeline; the result is known on the last stage.
  std::optional<EvalResult> evaluate();

  // What a repartition moved.
  struct Migration {
    std::int64_t blocks_moved = 0;
    std::int64_t bytes_moved = 0;  // sent and received by this rank
    double ms = 0;
  };
  // Moves the blocks whose owner differs in `plan` (the same stages on the same ranks, other
  // block ranges), point to point from the old owner to the new one, with their parameters,
  // buffers and optimizer state; then rebuilds this rank's stage in place. Collective: every
  // rank calls it between the same two steps, with the pipeline drained (a segment's end). The
  // numbers do not change: training continues as if the plan had always been `plan`.
  Migration repartition(const Plan& plan);

  // Loads this stage's blocks and optimizer state from a checkpoint (any plan wrote it);
  // returns its step, the last one it holds.
  std::int64_t resume_from(const std::string& checkpoint);
  // Writes OUTPUT/checkpoints/step-<step>: each stage's first replica its file, then rank 0
  // the manifest. The pipeline must be drained (a segment's end).
  void write_checkpoint(std::int64_t step);

  // Runs all steps (after --resume's step, if set): metrics.csv on the last stage,
  // ranks/rank<R>.csv on every rank, trace.json (all ranks merged) and run.toml on rank 0,
  // checkpoints every --checkpoint-every steps and after the last, the monitor every
  // --monitor-every steps (monitor.csv), and the repartitions, planned (--repartition) or
  // decided (--dynamic): one line each, and repartitions.csv.
  //
  // --dynamic: after each monitor window rank 0 runs the detector and, when a rank's speed
  // changed, the replanner; the decision reaches every rank in one all-reduce and the migration
  // runs at the next drain: before the next step for the flushing schedules; under 1f1b-stash
  // the running segment is cut to drain as early as it can (after the next step when m >= stages).
  void run();

  int stage() const { return stage_; }
  bool is_last_stage() const { return stage_ + 1 == stages_; }
  // The rank that reports the last stage's results (metrics.csv).
  bool reports() const { return is_last_stage() && replica_ == 0; }
  const RankStepTimes& last_step_times() const { return times_; }
  // This stage's (master) parameters, full names (for tests and checkpoints).
  const std::vector<NamedTensor>& parameters() const { return parameters_; }
  const std::vector<BlockPtr>& blocks() const { return blocks_; }
  Optimizer& optimizer() { return optimizer_; }

 private:
  // The state of one micro-batch in flight on this rank; g is its global index
  // (step - 1) * m + i.
  struct Microbatch {
    Bundle input;   // what the stage's first block consumed (received activations are leaves)
    Bundle output;  // what the stage's last block produced (not the last stage)
    torch::Tensor loss;
    std::int64_t activation_ticket = -1;
    std::int64_t grad_ticket = -1;
    int version_slot = -1;            // 1f1b-stash
    std::optional<BlockClock> clock;  // per-block times, when the step is monitored
  };

  void start_segment(std::int64_t step);
  std::vector<Action> segment_actions(std::int64_t first, std::int64_t last) const;
  std::int64_t drain_after(std::int64_t step);
  // Why and with what prediction a repartition runs, for its line and repartitions.csv.
  struct RepartitionReason {
    std::string cause;               // "planned", "rank 1 slowed 2.49x"
    std::int64_t decided_step = 0;   // the step after which it was decided
    const Replan* replan = nullptr;  // the replanner's prediction (dynamic repartitions)
  };
  // repartition() before `step`, with its line on rank 0, a row of repartitions.csv and a trace
  // event.
  void run_repartition(const Plan& plan, std::int64_t step, const RepartitionReason& reason);
  // --dynamic, after the window that ended at `step`: detect, replan, maybe repartition.
  void rebalance(const MonitorWindow& window, std::int64_t step);
  // The reference profile with parameter bytes, and what migrating each block sends.
  Replanner make_replanner(const Profile& reference) const;
  // With a slowdown predictor: every rank reads its load over the window that just ended, one
  // all-reduce brings all of them to rank 0, which predicts each stage's slowdown and writes
  // predictions.csv beside monitor.csv.
  void exchange_loads(const MonitorWindow& window, std::int64_t step);
  void start_load_meters();
  void adopt_plan(const Plan& plan);
  bool owns(std::int64_t g, int stage) const;
  int rank_of(std::int64_t g, int stage) const;
  InboundChannel& channel_from(int peer);
  void execute(const Action& action, std::int64_t g);
  void forward(std::int64_t g);
  void backward(std::int64_t g);
  // The per-block times of a monitored micro-batch whose backward ran from `backward_start`.
  void record_block_times(Microbatch& mb, std::chrono::steady_clock::time_point backward_start);
  void reduce_tied_gradients_across_stages();
  void reduce_gradients_across_replicas();
  void optimizer_step(std::int64_t step, StepResult& result);
  void flush_sends();
  // Sleeps off an injected slowdown of the compute that took `compute_ms` at `step`; returns the
  // time slept.
  double slow_down(double compute_ms, std::int64_t step);
  Bundle microbatch_data(std::int64_t g, bool targets);
  // Takes step `step`'s micro-batches of this rank from the loader (made anew when this rank's
  // share changed: another stage or replica after a repartition, or a step out of sequence).
  void fetch_step(std::int64_t step);
  Bundle wait_bundle(std::int64_t ticket, int peer, const std::string& what);

  RunConfig config_;
  Plan plan_;
  Model model_;  // all blocks are built (for names, ties and migration); this stage's are trained
  ModelFactory make_model_;
  Transport& transport_;
  torch::Device device_;
  int stage_ = 0;
  int stages_ = 1;
  int replica_ = 0;
  std::int64_t first_block_ = 0;
  std::int64_t m_ = 1;
  ScheduleKind kind_ = ScheduleKind::k1F1BFlush;
  std::vector<BlockPtr> blocks_;
  std::vector<NamedTensor> parameters_;
  std::set<std::string> cross_stage_tied_;  // parameters summed by TIED, not REDUCE
  std::unique_ptr<Dataset> data_;           // open_dataset(config.dataset)
  std::unique_ptr<DataLoader> loader_;      // this rank's share of data_, read ahead
  Optimizer optimizer_;
  LrSchedule lr_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<WeightVersions> versions_;  // 1f1b-stash
  std::int64_t updates_ = 0;                  // optimizer steps applied (the weight version)
  std::vector<SlowdownInjection> injections_;
  std::vector<PlannedRepartition> planned_;

  // The monitor and the dynamic loop (rank 0 holds the detector and the replanner).
  StageMonitor monitor_;
  std::int64_t unmonitored_step_ = 1;  // a warm-up step: the run's first, the first after a move
  bool monitoring_ = false;            // the step in progress is monitored
  bool dynamic_ = false;
  Plan initial_plan_;
  int plan_version_ = 1;
  std::optional<SlowdownDetector> detector_;
  std::optional<Replanner> replanner_;
  // The slowdown predictor (config key slowdown_predictor): every rank's load meter; rank 0's
  // predictor, its blocks' features (measured at start on a copy of the model) and, from the
  // monitor's reference window on, the stage model the replanner asks.
  std::unique_ptr<LoadMeter> load_meter_;
  std::optional<SlowdownPredictor> predictor_;
  std::vector<BlockFeatures> block_features_;
  std::optional<StageSlowdownModel> stage_slowdown_;
  // A decided repartition, run before `step` (after the pipeline drained).
  struct PendingRepartition {
    std::int64_t step = 0;
    std::int64_t decided_step = 0;
    Plan plan;
    std::string cause;
    std::optional<Replan> replan;  // rank 0
  };
  std::optional<PendingRepartition> pending_;
  std::optional<Progress> progress_;           // rank 0, during run()
  std::optional<CsvWriter> monitor_csv_;       // rank 0
  std::optional<CsvWriter> repartitions_csv_;  // rank 0
  std::optional<CsvWriter> predictions_csv_;   // rank 0, with a slowdown predictor

  // The schedule segment in flight: steps [first, last] without a flush, and this rank's
  // actions of it (micro-batches numbered from the segment's start).
  std::int64_t segment_first_step_ = 0;
  std::int64_t segment_last_step_ = -1;
  std::vector<Action> segment_;
  std::size_t next_action_ = 0;

  std::map<int, std::unique_ptr<InboundChannel>> inbound_;  // by peer rank
  std::vector<OutgoingBundle> outgoing_;
  std::map<std::int64_t, Microbatch> in_flight_;
  // This rank's micro-batches by step, then by index within the step.
  std::map<std::int64_t, std::map<std::int64_t, Bundle>> inputs_by_step_;   // first stage
  std::map<std::int64_t, std::map<std::int64_t, Bundle>> targets_by_step_;  // last stage
  std::map<std::int64_t, torch::Tensor> loss_sums_;                         // by step, last stage

  RankStepTimes times_;
  TraceRecorder trace_;
};

}  // namespace repipe
