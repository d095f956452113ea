#include "engine/optimizer.h"

#include <cmath>

#include "common/error.h"

namespace repipe {

int optimizer_state_slots(const OptimizerConfig& config) {
  if (config.kind == "sgd") return config.momentum > 0 ? 1 : 0;
  return 2;
}

Optimizer::Optimizer(OptimizerConfig config) : config_(std::move(config)) {
  REPIPE_CHECK(config_.kind == "sgd" || config_.kind == "adam" || config_.kind == "adamw",
               "unknown optimizer " << config_.kind);
}

void Optimizer::step(const std::vector<NamedTensor>& parameters, double lr) {
  torch::NoGradGuard no_grad;
  for (const NamedTensor& p : parameters) {
    const torch::Tensor& grad = p.tensor.grad();
    if (!grad.defined()) continue;
    ParameterState& state = state_[p.name];
    if (config_.kind == "sgd") {
      sgd(p.tensor, grad, state, lr);
    } else {
      adam(p.tensor, grad, state, lr);
    }
  }
}

// torch.optim.SGD without dampening or Nesterov: buf = momentum * buf + (grad + wd * p).
void Optimizer::sgd(const torch::Tensor& param, const torch::Tensor& grad, ParameterState& state,
                    double lr) {
  torch::Tensor d_p = grad;
  if (config_.weight_decay != 0) d_p = d_p.add(param, config_.weight_decay);
  if (config_.momentum != 0) {
    auto it = state.slots.find("momentum_buffer");
    if (it == state.slots.end()) {
      d_p = state.slots["momentum_buffer"] = d_p.clone().detach();
    } else {
      it->second.mul_(config_.momentum).add_(d_p);
      d_p = it->second;
    }
  }
  param.add_(d_p, -lr);
  ++state.step;
}

// torch.optim.Adam / AdamW (amsgrad off), with bias correction.
void Optimizer::adam(const torch::Tensor& param, torch::Tensor grad, ParameterState& state,
                     double lr) {
  if (config_.weight_decay != 0) {
    if (config_.kind == "adamw") {
      param.mul_(1 - lr * config_.weight_decay);
    } else {
      grad = grad.add(param, config_.weight_decay);
    }
  }
  if (state.slots.empty()) {
    state.slots["exp_avg"] = torch::zeros_like(param, torch::MemoryFormat::Preserve);
    state.slots["exp_avg_sq"] = torch::zeros_like(param, torch::MemoryFormat::Preserve);
  }
  torch::Tensor& exp_avg = state.slots["exp_avg"];
  torch::Tensor& exp_avg_sq = state.slots["exp_avg_sq"];
  ++state.step;
  double bias_correction1 = 1 - std::pow(config_.beta1, static_cast<double>(state.step));
  double bias_correction2 = 1 - std::pow(config_.beta2, static_cast<double>(state.step));
  exp_avg.mul_(config_.beta1).add_(grad, 1 - config_.beta1);
  exp_avg_sq.mul_(config_.beta2).addcmul_(grad, grad, 1 - config_.beta2);
  torch::Tensor denom = (exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(config_.eps);
  param.addcdiv_(exp_avg, denom, -lr / bias_correction1);
}

}  // namespace repipe
