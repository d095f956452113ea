// Tests of the single-process reference trainer: it learns, accumulates micro-batches
// correctly, and is deterministic.
#include "engine/reference_trainer.h"

#include <gtest/gtest.h>

#include "models/zoo.h"

namespace repipe {
namespace {

RunConfig config_for(const std::string& model, std::int64_t microbatches) {
  RunConfig c;
  c.model = model;
  c.batch_size = 32;
  c.microbatches = microbatches;
  c.steps = 40;
  c.seed = 5;
  c.eval_batches = 2;
  return c;
}

ReferenceTrainer make_trainer(const RunConfig& c) {
  torch::set_num_threads(1);
  return ReferenceTrainer(c, build_model(c.model, {c.seq_len, c.image_size, 5}), torch::kCPU);
}

double mean_loss(ReferenceTrainer& trainer, std::int64_t from, std::int64_t to) {
  double sum = 0;
  for (std::int64_t step = from; step <= to; ++step) sum += trainer.train_step(step).loss;
  return sum / static_cast<double>(to - from + 1);
}

TEST(ReferenceTrainer, MlpLossFallsAndAccuracyRises) {
  ReferenceTrainer trainer = make_trainer(config_for("mlp", 4));
  EvalResult before = trainer.evaluate();
  double early = mean_loss(trainer, 1, 5);
  mean_loss(trainer, 6, 35);
  double late = mean_loss(trainer, 36, 40);
  EvalResult after = trainer.evaluate();
  EXPECT_LT(late, 0.5 * early);
  EXPECT_LT(after.loss, 0.5 * before.loss);
  EXPECT_GT(after.accuracy, 0.4);  // chance is 0.1; 40 steps reach about 0.6
  EXPECT_GT(after.accuracy, before.accuracy + 0.2);
}

TEST(ReferenceTrainer, SmallCnnLossFalls) {
  RunConfig c = config_for("small_cnn", 2);
  c.batch_size = 64;
  c.lr = 0.02;
  ReferenceTrainer trainer = make_trainer(c);
  double early = mean_loss(trainer, 1, 3);
  mean_loss(trainer, 4, 37);
  double late = mean_loss(trainer, 38, 40);
  EXPECT_LT(late, 0.5 * early);
  EXPECT_GT(trainer.evaluate().accuracy, 0.5);  // chance is 0.1
}

TEST(ReferenceTrainer, MicroBatchesSumToTheFullBatchGradient) {
  // Without BatchNorm, m micro-batches of b/m give the gradient of one batch of b: the
  // trajectories agree up to float rounding.
  for (std::int64_t m : {2, 8}) {
    RunConfig whole = config_for("mlp", 1);
    RunConfig split = config_for("mlp", m);
    ReferenceTrainer a = make_trainer(whole);
    ReferenceTrainer b = make_trainer(split);
    for (std::int64_t step = 1; step <= 5; ++step) {
      double la = a.train_step(step).loss;
      double lb = b.train_step(step).loss;
      EXPECT_NEAR(la, lb, 1e-5 * la) << "m=" << m << " step " << step;
    }
    auto pa = a.model().named_parameters();
    auto pb = b.model().named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
      EXPECT_TRUE(torch::allclose(pa[i].tensor, pb[i].tensor, 1e-4, 1e-6)) << pa[i].name;
    }
  }
}

TEST(ReferenceTrainer, SameSeedSameBits) {
  RunConfig c = config_for("small_cnn", 2);
  c.optimizer = "adamw";
  c.weight_decay = 0.01;
  c.grad_clip = 1.0;
  c.lr = 1e-3;
  ReferenceTrainer a = make_trainer(c);
  ReferenceTrainer b = make_trainer(c);
  for (std::int64_t step = 1; step <= 3; ++step) {
    StepResult ra = a.train_step(step);
    StepResult rb = b.train_step(step);
    EXPECT_EQ(ra.loss, rb.loss);
    ASSERT_TRUE(ra.grad_norm.has_value());
    EXPECT_EQ(*ra.grad_norm, *rb.grad_norm);
  }
  auto pa = a.model().named_parameters();
  auto pb = b.model().named_parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].tensor, pb[i].tensor));
  auto ba = a.model().named_buffers();
  auto bb = b.model().named_buffers();
  ASSERT_FALSE(ba.empty());  // BatchNorm running statistics
  for (std::size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i].tensor, bb[i].tensor));
}

}  // namespace
}  // namespace repipe
