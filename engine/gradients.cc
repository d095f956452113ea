#include "engine/gradients.h"

#include <cmath>
#include <set>
#include <unordered_map>

#include "common/error.h"

namespace repipe {

void reduce_tied_gradients(const std::vector<TiedParameter>& ties,
                           const std::vector<NamedTensor>& parameters) {
  if (ties.empty()) return;
  std::unordered_map<std::string, torch::Tensor> by_name;
  for (const NamedTensor& p : parameters) by_name[p.name] = p.tensor;
  for (const TiedParameter& tie : ties) {
    auto owner = by_name.find(tie.owner);
    auto user = by_name.find(tie.user);
    REPIPE_CHECK(owner != by_name.end() && user != by_name.end(),
                 "tie " << tie.owner << " <-> " << tie.user << " names a missing parameter");
    torch::Tensor a = owner->second.grad();
    torch::Tensor b = user->second.grad();
    if (!a.defined() || !b.defined()) continue;
    torch::Tensor sum = a + b;
    torch::NoGradGuard no_grad;
    a.copy_(sum);
    b.copy_(sum);
  }
}

std::vector<torch::Tensor> block_squared_grad_norms(const Model& model) {
  std::set<std::string> users;
  for (const TiedParameter& tie : model.ties) users.insert(tie.user);
  std::vector<torch::Tensor> terms;
  for (const BlockPtr& block : model.blocks) {
    torch::Tensor term;
    for (const NamedTensor& p : block_parameters(*block)) {
      const torch::Tensor& grad = p.tensor.grad();
      if (!grad.defined() || users.count(p.name)) continue;
      torch::Tensor square = grad.to(torch::kDouble).pow(2).sum();
      term = term.defined() ? term + square : square;
    }
    terms.push_back(term.defined() ? term : torch::zeros({}, torch::kDouble));
  }
  return terms;
}

double global_grad_norm(const std::vector<torch::Tensor>& block_terms) {
  if (block_terms.empty()) return 0;
  torch::Tensor host = torch::stack(block_terms).cpu();  // one device sync, not one per block
  double sum = 0;
  for (std::int64_t i = 0; i < host.size(0); ++i) sum += host[i].item<double>();
  return std::sqrt(sum);
}

void clip_gradients(const std::vector<NamedTensor>& parameters, double norm, double max_norm) {
  double coefficient = max_norm / (norm + 1e-6);
  if (coefficient >= 1) return;
  torch::NoGradGuard no_grad;
  for (const NamedTensor& p : parameters) {
    if (p.tensor.grad().defined()) p.tensor.grad().mul_(coefficient);
  }
}

}  // namespace repipe
