// engine/optimizer.h: SGD, Adam and AdamW with state keyed by parameter name.
//
// repipe keeps its own optimizer (same arithmetic as torch::optim, checked by a test) because
// its state must follow a block when the block migrates to another stage, and be written to
// checkpoints by name. torch::optim keys state by tensor address, which neither survives.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/model.h"

namespace repipe {

struct OptimizerConfig {
  std::string kind = "sgd";   // sgd | adam | adamw
  double momentum = 0.9;      // sgd
  double weight_decay = 0.0;  // sgd, adam: L2 on the gradient; adamw: decoupled
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

// Parameter-sized buffers the optimizer keeps per parameter: 2 for Adam and AdamW, 1 for SGD with
// momentum, 0 for plain SGD.
int optimizer_state_slots(const OptimizerConfig& config);

// The optimizer state of one parameter.
struct ParameterState {
  std::int64_t step = 0;                       // updates applied so far
  std::map<std::string, torch::Tensor> slots;  // "momentum_buffer" | "exp_avg", "exp_avg_sq"
};

class Optimizer {
 public:
  explicit Optimizer(OptimizerConfig config);

  // Updates every parameter that has a gradient, at learning rate `lr`.
  void step(const std::vector<NamedTensor>& parameters, double lr);

  const OptimizerConfig& config() const { return config_; }
  std::map<std::string, ParameterState>& state() { return state_; }
  const std::map<std::string, ParameterState>& state() const { return state_; }

 private:
  void sgd(const torch::Tensor& param, const torch::Tensor& grad, ParameterState& state, double lr);
  void adam(const torch::Tensor& param, torch::Tensor grad, ParameterState& state, double lr);

  OptimizerConfig config_;
  std::map<std::string, ParameterState> state_;
};

}  // namespace repipe
