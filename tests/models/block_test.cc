// Tests of the block seeding rules: dropout masks depend only on (seed, step, micro-batch,
// block name), and blocks without randomness are recognised.
#include "models/block.h"

#include <gtest/gtest.h>

#include "models/tensor_block.h"

namespace repipe {
namespace {

std::shared_ptr<TensorBlock> dropout_block(const std::string& name) {
  return std::make_shared<TensorBlock>(
      name, torch::nn::Sequential(torch::nn::Linear(16, 16), torch::nn::Dropout(0.5)));
}

torch::Tensor seeded_forward(TensorBlock& block, std::uint64_t seed, std::int64_t step,
                             std::int64_t microbatch) {
  torch::manual_seed(999);  // whatever the global state was, the seeding decides
  torch::randn({7});
  seed_block_forward(block, seed, step, microbatch);
  return block.forward({{"x", torch::ones({4, 16})}}).at("x");
}

TEST(Block, DropoutMasksDependOnlyOnTheSeedingKey) {
  auto block = dropout_block("toy.a");
  block->train(true);
  torch::Tensor a = seeded_forward(*block, 1, 3, 0);
  EXPECT_TRUE(torch::equal(a, seeded_forward(*block, 1, 3, 0)));
  EXPECT_FALSE(torch::equal(a, seeded_forward(*block, 1, 3, 1)));  // another micro-batch
  EXPECT_FALSE(torch::equal(a, seeded_forward(*block, 1, 4, 0)));  // another step
  EXPECT_FALSE(torch::equal(a, seeded_forward(*block, 2, 3, 0)));  // another seed
  auto twin = dropout_block("toy.b");
  torch::NoGradGuard no_grad;
  for (auto& p : twin->named_parameters()) p.value().copy_(block->named_parameters()[p.key()]);
  twin->train(true);
  EXPECT_FALSE(torch::equal(a, seeded_forward(*twin, 1, 3, 0)));  // another block name
}

TEST(Block, KnowsWhetherItDrawsRandomNumbers) {
  EXPECT_TRUE(dropout_block("toy.a")->draws_random_numbers());
  TensorBlock plain("toy.c", torch::nn::Sequential(torch::nn::Linear(4, 4), torch::nn::ReLU()));
  EXPECT_FALSE(plain.draws_random_numbers());
}

}  // namespace
}  // namespace repipe
