// The key test of the pipeline engine: under mpirun with S ranks, for each schedule and
// micro-batch count, every step's loss and every final parameter equal the single-process
// reference trainer's with the same seed. Each rank trains its stage and, beside it, the whole
// model with the reference trainer, then compares what it owns. One intra-op thread per process.
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

Plan plan_for(const RunConfig& c, const Model& model, int stages) {
  std::vector<std::int64_t> bytes;
  for (const BlockPtr& block : model.blocks) {
    std::int64_t total = 0;
    for (const NamedTensor& p : block_parameters(*block)) total += p.tensor.numel();
    bytes.push_back(total);
  }
  return even_plan_by_bytes(c.model, bytes, stages, c.schedule, c.microbatches,
                            c.batch_size / c.microbatches);
}

struct Case {
  std::string model;
  std::string schedule;
  std::int64_t microbatches;
  std::int64_t batch_size;
  std::string optimizer = "sgd";
  double grad_clip = 0;
};

void PrintTo(const Case& c, std::ostream* out) {
  *out << c.model << " " << c.schedule << " m=" << c.microbatches;
}

// Relative difference of two tensors, ||a - b|| / ||a||.
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  double norm = a.to(torch::kDouble).norm().item<double>();
  double diff = (a.to(torch::kDouble) - b.to(torch::kDouble)).norm().item<double>();
  return norm == 0 ? diff : diff / norm;
}

void expect_pipeline_equals_reference(const Case& k) {
  torch::set_num_threads(1);
  RunConfig c;
  c.model = k.model;
  c.schedule = k.schedule;
  c.microbatches = k.microbatches;
  c.batch_size = k.batch_size;
  c.optimizer = k.optimizer;
  c.grad_clip = k.grad_clip;
  c.lr = k.optimizer == "sgd" ? 0.05 : 1e-3;
  c.steps = 3;
  c.seed = 17;
  ModelOptions options{0, 0, 17};

  ReferenceTrainer reference(c, build_model(c.model, options), torch::kCPU);
  std::vector<double> reference_losses;
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    reference_losses.push_back(reference.train_step(step).loss);
  }

  Model model = build_model(c.model, options);
  Plan plan = plan_for(c, model, world_size());
  MpiTransport transport(MPI_COMM_WORLD);
  PipelineTrainer pipeline(c, plan, std::move(model), transport, torch::kCPU);
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    StepResult r = pipeline.train_step(step);
    if (pipeline.is_last_stage()) {
      double expected = reference_losses[static_cast<std::size_t>(step - 1)];
      EXPECT_LE(std::fabs(r.loss - expected), 1e-6 * std::fabs(expected))
          << "step " << step << ": pipeline " << r.loss << " reference " << expected;
    }
  }
  int checked = 0;
  for (const NamedTensor& p : pipeline.parameters()) {
    for (const NamedTensor& q : reference.model().named_parameters()) {
      if (q.name != p.name) continue;
      EXPECT_LE(relative_difference(q.tensor, p.tensor), 1e-6) << p.name;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(pipeline.parameters().size()));
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
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Matrix, PipelineEquivalence, ::testing::ValuesIn(matrix()));

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
