// The key test of the pipeline engine: under mpirun with N ranks, for each schedule and
// micro-batch count, every step's loss and every final parameter equal the single-process
// reference trainer's with the same seed. Each rank trains its stage and, beside it, the whole
// model with the reference trainer, then compares what it owns. One intra-op thread per process.
// Also: replicated stages, tied weights across stages, evaluation, and weight stashing (against
// the reference with one micro-batch in flight, and against a single-process emulation of
// PipeDream's weight versions at full depth).
#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <mpi.h>

#include "engine/pipeline_trainer.h"
#include "engine/reference_trainer.h"
#include "engine/transport/mpi_transport.h"
#include "models/zoo.h"

namespace repipe {
namespace {

int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

// One stage per rank, or with `replicated` two stages (one if N = 2) whose ranks split evenly:
// N = 2: [0,1]; N = 3: [0] [1,2]; N = 4: [0,1] [2,3].
Plan plan_for(const RunConfig& c, const Model& model, int ranks, bool replicated = false) {
  std::vector<std::int64_t> bytes;
  for (const BlockPtr& block : model.blocks) {
    std::int64_t total = 0;
    for (const NamedTensor& p : block_parameters(*block)) total += p.tensor.numel();
    bytes.push_back(total);
  }
  const int stages = replicated ? (ranks == 2 ? 1 : 2) : ranks;
  Plan plan = even_plan_by_bytes(c.model, bytes, stages, c.schedule, c.microbatches,
                                 c.batch_size / c.microbatches);
  if (replicated) {
    const std::vector<std::vector<int>> ranks_of_stages =
        ranks == 2   ? std::vector<std::vector<int>>{{0, 1}}
        : ranks == 3 ? std::vector<std::vector<int>>{{0}, {1, 2}}
                     : std::vector<std::vector<int>>{{0, 1}, {2, 3}};
    for (int s = 0; s < stages; ++s) plan.stages[s].ranks = ranks_of_stages[s];
  }
  return plan;
}

struct Case {
  std::string model;
  std::string schedule;
  std::int64_t microbatches;
  std::int64_t batch_size;
  std::string optimizer = "sgd";
  double grad_clip = 0;
  bool replicated = false;
  std::int64_t in_flight = 0;  // 1f1b-stash
  std::int64_t seq_len = 0;
  std::int64_t eval_batches = 0;  // > 0: compare an evaluation after the last step
};

void PrintTo(const Case& c, std::ostream* out) {
  *out << c.model << " " << c.schedule << " m=" << c.microbatches
       << (c.replicated ? " replicated" : "");
}

RunConfig config_for(const Case& k) {
  RunConfig c;
  c.model = k.model;
  c.schedule = k.schedule;
  c.microbatches = k.microbatches;
  c.batch_size = k.batch_size;
  c.optimizer = k.optimizer;
  c.grad_clip = k.grad_clip;
  c.in_flight = k.in_flight;
  c.seq_len = k.seq_len;
  c.lr = k.optimizer == "sgd" ? 0.05 : 1e-3;
  c.steps = 3;
  c.seed = 17;
  if (k.eval_batches > 0) c.eval_batches = k.eval_batches;
  return c;
}

// Relative difference of two tensors, ||a - b|| / ||a||.
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  double norm = a.to(torch::kDouble).norm().item<double>();
  double diff = (a.to(torch::kDouble) - b.to(torch::kDouble)).norm().item<double>();
  return norm == 0 ? diff : diff / norm;
}

// The pipeline's loss of `step` equals the reference's (relative 1e-6), on the reporting rank.
void expect_loss_matches(const PipelineTrainer& pipeline, const StepResult& result, double expected,
                         std::int64_t step) {
  if (!pipeline.reports()) return;
  EXPECT_LE(std::fabs(result.loss - expected), 1e-6 * std::fabs(expected))
      << "step " << step << ": pipeline " << result.loss << " reference " << expected;
}

// Every parameter this rank's stage holds equals the reference's (per tensor, relative 1e-6).
void expect_parameters_match(const PipelineTrainer& pipeline, ReferenceTrainer& reference) {
  int checked = 0;
  for (const NamedTensor& p : pipeline.parameters()) {
    for (const NamedTensor& q : reference.model().named_parameters()) {
      if (q.name != p.name) continue;
      EXPECT_LE(relative_difference(q.tensor, p.tensor), 1e-6) << p.name;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(pipeline.parameters().size()));
}

void expect_pipeline_equals_reference(const Case& k) {
  torch::set_num_threads(1);
  RunConfig c = config_for(k);
  ModelOptions options{k.seq_len, 0, 17};

  ReferenceTrainer reference(c, build_model(c.model, options), torch::kCPU);
  std::vector<double> reference_losses;
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    reference_losses.push_back(reference.train_step(step).loss);
  }

  Plan plan = plan_for(c, build_model(c.model, options), world_size(), k.replicated);
  MpiTransport transport(MPI_COMM_WORLD);
  PipelineTrainer pipeline(
      c, plan, [&] { return build_model(c.model, options); }, transport, torch::kCPU);
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    expect_loss_matches(pipeline, pipeline.train_step(step),
                        reference_losses[static_cast<std::size_t>(step - 1)], step);
  }
  expect_parameters_match(pipeline, reference);
  if (k.eval_batches > 0) {
    EvalResult expected = reference.evaluate();
    std::optional<EvalResult> got = pipeline.evaluate();
    EXPECT_EQ(got.has_value(), pipeline.is_last_stage());
    if (got) {
      // The pipeline averages micro-batch losses, the reference whole batches: equal sums in
      // another order.
      EXPECT_NEAR(got->loss, expected.loss, 1e-6 * std::fabs(expected.loss));
      EXPECT_EQ(got->accuracy, expected.accuracy);
    }
  }
  transport.barrier();
}

class PipelineEquivalence : public ::testing::TestWithParam<Case> {};

TEST_P(PipelineEquivalence, LossesAndParametersMatchTheReference) {
  expect_pipeline_equals_reference(GetParam());
}

std::vector<Case> matrix() {
  std::vector<Case> cases;
  for (const char* model : {"mlp", "small_cnn"}) {
    for (const char* schedule : {"gpipe", "1f1b-flush"}) {
      for (std::int64_t m : {1, 2, 4, 8}) cases.push_back({model, schedule, m, 16});
    }
  }
  cases.push_back({"resnet-mini", "1f1b-flush", 2, 4});         // skip connections inside blocks
  cases.push_back({"mlp", "1f1b-flush", 4, 16, "adamw", 0.5});  // Adam state and clipping
  // Replicas: gradients all-reduced within a stage, clipping and the loss across them.
  cases.push_back({"mlp", "1f1b-flush", 4, 16, "sgd", 0.5, true});
  cases.push_back({"small_cnn", "gpipe", 2, 8, "sgd", 0, true});
  cases.push_back(
      {"mlp", "1f1b-flush", 1, 16, "sgd", 0, true});  // fewer micro-batches than replicas
  // GPT-2's embedding and head are one weight on the first and the last stage.
  cases.push_back({"gpt2-tiny", "1f1b-flush", 2, 4, "adamw", 1.0, false, 0, 16});
  // Weight stashing with one micro-batch in flight has no staleness: it is the reference.
  cases.push_back({"mlp", "1f1b-stash", 2, 16, "sgd", 0, false, 1});
  cases.push_back({"small_cnn", "1f1b-stash", 4, 16, "adamw", 0, false, 1});
  // Evaluation through the pipeline (BatchNorm in eval mode).
  cases.push_back({"small_cnn", "1f1b-flush", 4, 16, "sgd", 0, false, 0, 0, 2});
  // Replicas keep their own BatchNorm statistics (as data parallelism without SyncBatchNorm
  // does), so evaluation with replicas is compared on a model without BatchNorm.
  cases.push_back({"mlp", "1f1b-flush", 4, 16, "sgd", 0, true, 0, 0, 2});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Matrix, PipelineEquivalence, ::testing::ValuesIn(matrix()));

// Repartitioning never changes the math: a run that moves blocks at step boundaries (to a plan
// whose first stages hold one block each, so a block crosses two stage boundaries at once when
// there are 3 or more stages, then back) has the reference's losses and final parameters, with
// Adam's state and clipping carried across.
TEST(Repartition, MovingBlocksMidRunKeepsEveryLossAndParameter) {
  torch::set_num_threads(1);
  struct Run {
    const char* model;
    const char* schedule;
    std::int64_t seq_len;
  };
  // gpt2-tiny: transformer blocks (many tensors each) and a tie whose ends change stages.
  for (const Run& run :
       {Run{"mlp", "1f1b-flush", 0}, Run{"mlp", "gpipe", 0}, Run{"gpt2-tiny", "1f1b-flush", 16}}) {
    const char* schedule = run.schedule;
    if (std::string(run.model) == "gpt2-tiny" && world_size() > 3) continue;  // 4 blocks
    RunConfig c = config_for({run.model, schedule, 4, 16, "adamw", 0.5});
    c.seq_len = run.seq_len;
    c.steps = 6;
    ModelOptions options{run.seq_len, 0, 17};
    ReferenceTrainer reference(c, build_model(c.model, options), torch::kCPU);
    std::vector<double> expected;
    for (std::int64_t step = 1; step <= c.steps; ++step) {
      expected.push_back(reference.train_step(step).loss);
    }
    const int stages = world_size();
    Plan even = plan_for(c, build_model(c.model, options), stages);
    // The first stages hold one block each; if that is the even plan, the last stages do.
    Plan skewed = even;
    const std::int64_t blocks = even.num_blocks();
    for (int s = 0; s < stages; ++s) {
      skewed.stages[s].first_block = s;
      skewed.stages[s].last_block = s + 1 < stages ? s : blocks - 1;
    }
    if (skewed == even) {
      for (int s = 0; s < stages; ++s) {
        skewed.stages[s].first_block = s == 0 ? 0 : blocks - stages + s;
        skewed.stages[s].last_block = blocks - stages + s;
      }
    }
    MpiTransport transport(MPI_COMM_WORLD);
    PipelineTrainer pipeline(
        c, even, [&] { return build_model(c.model, options); }, transport, torch::kCPU);
    std::int64_t moved = 0;
    for (std::int64_t step = 1; step <= c.steps; ++step) {
      if (step == 3) moved += pipeline.repartition(skewed).blocks_moved;
      if (step == 5) moved += pipeline.repartition(even).blocks_moved;
      SCOPED_TRACE(std::string(run.model) + " " + schedule);
      expect_loss_matches(pipeline, pipeline.train_step(step),
                          expected[static_cast<std::size_t>(step - 1)], step);
    }
    EXPECT_GT(moved, 0);
    EXPECT_EQ(pipeline.stage(), transport.rank());
    expect_parameters_match(pipeline, reference);
    transport.barrier();
  }
}

// Weight stashing at full depth, against a single-process emulation of its semantics: the
// forward and the backward of micro-batch g on stage s both use the weights of stage s after
// v_s(g) updates, v_s(g) being the number of optimizer steps before F(g) in the stage's list;
// a step's gradients accumulate in micro-batch order and update the newest weights.
TEST(WeightStashing, EveryBackwardUsesItsForwardsWeightVersion) {
  torch::set_num_threads(1);
  RunConfig c = config_for({"mlp", "1f1b-stash", 2, 8});
  c.steps = 4;
  ModelOptions options{0, 0, 17};
  const int stages = world_size();
  const int m = static_cast<int>(c.microbatches);
  Plan plan = plan_for(c, build_model(c.model, options), stages);

  // v[s][g] from the schedule the runtime executes.
  Schedule schedule = make_stash_schedule(stages, m, static_cast<int>(c.steps), 0);
  std::vector<std::vector<std::int64_t>> version(stages);
  bool stale = false;
  for (int s = 0; s < stages; ++s) {
    std::int64_t updates = 0;
    for (const Action& a : schedule[s]) {
      if (a.op == Op::kOptimizerStep) ++updates;
      if (a.op != Op::kForward) continue;
      version[s].push_back(updates);
      stale = stale || updates < a.microbatch / m;  // an older version than the step's own
    }
  }
  EXPECT_EQ(stale, stages > 1) << "the schedule must overlap steps";

  // The emulation: the whole model in this process, weights swapped per micro-batch between
  // forward-backward passes (never while a graph holds them).
  Model model = build_model(c.model, options);
  std::vector<NamedTensor> params = model.named_parameters();
  auto stage_of = [&](const std::string& name) {
    for (int s = 0; s < stages; ++s) {
      for (std::int64_t b = plan.stages[s].first_block; b <= plan.stages[s].last_block; ++b) {
        if (name.rfind(model.blocks[b]->block_name() + ".", 0) == 0) return s;
      }
    }
    return -1;
  };
  std::vector<std::vector<torch::Tensor>> history;  // [updates][parameter]
  auto snapshot = [&] {
    std::vector<torch::Tensor> copy;
    for (const NamedTensor& p : params) copy.push_back(p.tensor.detach().clone());
    history.push_back(std::move(copy));
  };
  auto load = [&](std::size_t i, std::int64_t updates) {
    torch::NoGradGuard no_grad;
    params[i].tensor.copy_(history[static_cast<std::size_t>(updates)][i]);
  };
  snapshot();
  SyntheticDataset data(model.sample, static_cast<std::uint64_t>(c.seed));
  Optimizer optimizer(optimizer_config(c));
  std::vector<double> losses;
  model.train(true);
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    Batch batch = data.batch(DataStream::kTrain, step - 1, c.batch_size);
    std::vector<Bundle> inputs = split_bundle(batch.inputs, m);
    std::vector<Bundle> targets = split_bundle(batch.targets, m);
    double loss_sum = 0;
    for (int i = 0; i < m; ++i) {
      const std::int64_t g = (step - 1) * m + i;
      for (std::size_t p = 0; p < params.size(); ++p) {
        load(p, version[stage_of(params[p].name)][static_cast<std::size_t>(g)]);
      }
      Bundle x = inputs[i];
      for (const BlockPtr& block : model.blocks) {
        seed_block_forward(*block, static_cast<std::uint64_t>(c.seed), step, i);
        x = block->forward(x);
      }
      torch::Tensor loss = model.loss(x, targets[i]);
      (loss / static_cast<double>(m)).backward();
      loss_sum += loss.item<double>();
    }
    for (std::size_t p = 0; p < params.size(); ++p) load(p, step - 1);
    optimizer.step(params, 0.05);
    for (const NamedTensor& p : params) p.tensor.mutable_grad() = torch::Tensor();
    snapshot();
    losses.push_back(loss_sum / m);
  }

  MpiTransport transport(MPI_COMM_WORLD);
  PipelineTrainer pipeline(
      c, plan, [&] { return build_model(c.model, options); }, transport, torch::kCPU);
  int most_versions = 0;
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    StepResult r = pipeline.train_step(step);
    most_versions = std::max(most_versions, pipeline.last_step_times().weight_versions);
    if (pipeline.reports()) {
      double expected = losses[static_cast<std::size_t>(step - 1)];
      EXPECT_LE(std::fabs(r.loss - expected), 1e-6 * std::fabs(expected)) << "step " << step;
    }
  }
  // Stage s holds at most one version per micro-batch in flight, and really holds several.
  const int in_flight = stages - pipeline.stage();
  EXPECT_LE(most_versions, in_flight);
  if (in_flight > m) {
    EXPECT_GT(most_versions, 1);
  }
  for (const NamedTensor& p : pipeline.parameters()) {
    for (const NamedTensor& q : params) {
      if (q.name == p.name) {
        EXPECT_LE(relative_difference(q.tensor, p.tensor), 1e-6) << p.name;
      }
    }
  }
  transport.barrier();
}

}  // namespace
}  // namespace repipe

// gtest under mpirun: every rank runs every test; only rank 0 prints.
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any_failed;
}
