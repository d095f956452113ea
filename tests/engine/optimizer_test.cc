// Oracle test: repipe's optimizers make the same updates as torch::optim.
#include "engine/optimizer.h"

#include <gtest/gtest.h>

namespace repipe {
namespace {

struct Case {
  OptimizerConfig config;
  double lr;
};

void PrintTo(const Case& c, std::ostream* out) {
  *out << c.config.kind << " lr " << c.lr;
}

std::unique_ptr<torch::optim::Optimizer> torch_optimizer(const Case& c,
                                                         std::vector<torch::Tensor> params) {
  const OptimizerConfig& o = c.config;
  if (o.kind == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(c.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  }
  if (o.kind == "adam") {
    return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(c.lr)
                                                            .betas({o.beta1, o.beta2})
                                                            .eps(o.eps)
                                                            .weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(c.lr)
                                                           .betas({o.beta1, o.beta2})
                                                           .eps(o.eps)
                                                           .weight_decay(o.weight_decay));
}

class OptimizerOracle : public ::testing::TestWithParam<Case> {};

TEST_P(OptimizerOracle, MatchesTorchOptim) {
  const Case& c = GetParam();
  torch::manual_seed(3);
  std::vector<torch::Tensor> ours{torch::randn({4, 5}), torch::randn({7})};
  std::vector<torch::Tensor> theirs;
  std::vector<NamedTensor> named;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    ours[i].set_requires_grad(true);
    theirs.push_back(ours[i].detach().clone().set_requires_grad(true));
    named.push_back({i == 0 ? "p0" : "p1", ours[i]});
  }
  Optimizer optimizer(c.config);
  auto reference = torch_optimizer(c, theirs);
  for (int step = 0; step < 6; ++step) {
    for (std::size_t i = 0; i < ours.size(); ++i) {
      torch::Tensor grad = torch::randn(ours[i].sizes());
      ours[i].mutable_grad() = grad.clone();
      theirs[i].mutable_grad() = grad.clone();
    }
    optimizer.step(named, c.lr);
    reference->step();
    for (std::size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(torch::allclose(ours[i], theirs[i], /*rtol=*/1e-6, /*atol=*/1e-7))
          << c.config.kind << " step " << step << " param " << i << " max diff "
          << (ours[i] - theirs[i]).abs().max().item<float>();
    }
  }
  EXPECT_EQ(optimizer.state().at("p0").step, 6);
}

INSTANTIATE_TEST_SUITE_P(Kinds, OptimizerOracle,
                         ::testing::Values(Case{{"sgd", 0.0, 0.0}, 0.1},
                                           Case{{"sgd", 0.9, 0.01}, 0.05},
                                           Case{{"adam", 0, 0.0, 0.9, 0.999, 1e-8}, 1e-2},
                                           Case{{"adam", 0, 0.1, 0.8, 0.99, 1e-6}, 1e-3},
                                           Case{{"adamw", 0, 0.05, 0.9, 0.999, 1e-8}, 1e-2}),
                         [](const auto& info) {
                           return info.param.config.kind + std::to_string(info.index);
                         });

TEST(Optimizer, SkipsParametersWithoutGradient) {
  torch::Tensor p = torch::ones({3}).set_requires_grad(true);
  Optimizer optimizer({"adam"});
  optimizer.step({{"p", p}}, 0.1);
  EXPECT_TRUE(torch::equal(p, torch::ones({3})));
  EXPECT_TRUE(optimizer.state().empty());
}

}  // namespace
}  // namespace repipe
