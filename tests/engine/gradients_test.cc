// Tests of tied-gradient reduction and clipping by global norm.
#include "engine/gradients.h"

#include <gtest/gtest.h>

#include "models/tensor_block.h"

namespace repipe {
namespace {

// Two one-layer blocks whose weights are a tie; gradients set by hand.
Model two_block_model() {
  Model model;
  model.name = "toy";
  for (const char* name : {"toy.a", "toy.b"}) {
    model.blocks.push_back(std::make_shared<TensorBlock>(
        name,
        torch::nn::Sequential(torch::nn::Linear(torch::nn::LinearOptions(3, 3).bias(false)))));
  }
  model.ties = {{"toy.a.body.0.weight", "toy.b.body.0.weight"}};
  return model;
}

TEST(Gradients, TiedCopiesGetTheSumOfBothGradients) {
  Model model = two_block_model();
  auto params = model.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  params[0].tensor.mutable_grad() = torch::full({3, 3}, 1.5);
  params[1].tensor.mutable_grad() = torch::full({3, 3}, 2.0);
  reduce_tied_gradients(model.ties, params);
  EXPECT_TRUE(torch::equal(params[0].tensor.grad(), torch::full({3, 3}, 3.5)));
  EXPECT_TRUE(torch::equal(params[1].tensor.grad(), torch::full({3, 3}, 3.5)));
  EXPECT_EQ(model.parameter_count(), 9);  // one logical weight
}

TEST(Gradients, NormCountsATiedWeightOnceAndClipsLikeTorch) {
  Model model = two_block_model();
  model.ties.clear();
  auto params = model.named_parameters();
  torch::manual_seed(1);
  std::vector<torch::Tensor> copies;
  for (auto& p : params) {
    p.tensor.mutable_grad() = torch::randn({3, 3});
    torch::Tensor copy = p.tensor.detach().clone().set_requires_grad(true);
    copy.mutable_grad() = p.tensor.grad().clone();
    copies.push_back(copy);
  }
  double norm = global_grad_norm(block_squared_grad_norms(model));
  double torch_norm = torch::nn::utils::clip_grad_norm_(copies, 0.5);
  EXPECT_NEAR(norm, torch_norm, 1e-5 * torch_norm);
  clip_gradients(params, norm, 0.5);
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::allclose(params[i].tensor.grad(), copies[i].grad(), 1e-6, 1e-7));
  }
  EXPECT_NEAR(global_grad_norm(block_squared_grad_norms(model)), 0.5, 1e-5);

  model.ties = {{"toy.a.body.0.weight", "toy.b.body.0.weight"}};
  double a = params[0].tensor.grad().to(torch::kDouble).pow(2).sum().item<double>();
  EXPECT_DOUBLE_EQ(global_grad_norm(block_squared_grad_norms(model)), std::sqrt(a));
}

}  // namespace
}  // namespace repipe
