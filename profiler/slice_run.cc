// profiler/slice_run.cc: forward and backward of a slice of blocks on a fixed input.
#include "profiler/slice_run.h"

#include <algorithm>

#include <torch/torch.h>

#include "common/error.h"

namespace repipe {
namespace {

// Fresh autograd leaves over the same memory; floating-point ones require grad if asked.
Bundle as_leaves(const Bundle& bundle, bool requires_grad) {
  Bundle out;
  for (const auto& [key, tensor] : bundle) {
    torch::Tensor leaf = tensor.detach();
    if (requires_grad && leaf.is_floating_point()) leaf.requires_grad_(true);
    out[key] = leaf;
  }
  return out;
}

}  // namespace

void DeviceStopwatch::synchronize() const {
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
}

double median_of(std::vector<double> values) {
  REPIPE_CHECK(!values.empty(), "median of no values");
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

Bundle run_blocks_before(const Model& model, std::size_t first, const Bundle& input) {
  REPIPE_CHECK(first <= model.blocks.size(), "block " << first << " of " << model.blocks.size());
  torch::NoGradGuard no_grad;
  Bundle bundle = input;
  for (std::size_t i = 0; i < first; ++i) bundle = model.blocks[i]->forward(bundle);
  return bundle;
}

SliceRun::SliceRun(const Model& model, std::size_t first, std::size_t last, const Bundle& input,
                   const Bundle& targets, std::uint64_t seed)
    : model_(model),
      first_(first),
      last_(last),
      ends_model_(last + 1 == model.blocks.size()),
      inputs_(as_leaves(input, /*requires_grad=*/first > 0)),  // the model's data needs none
      targets_(ends_model_ ? targets : Bundle()),
      seed_(seed) {
  REPIPE_CHECK(first <= last && last < model.blocks.size(),
               "slice " << first << "-" << last << " of " << model.blocks.size() << " blocks");
  for (std::size_t i = first; i <= last; ++i) {
    for (const torch::Tensor& p : model.blocks[i]->parameters(/*recurse=*/true)) {
      grad_holders_.push_back(p);
    }
  }
  for (const auto& entry : inputs_) {
    if (entry.second.requires_grad()) grad_holders_.push_back(entry.second);
  }
}

std::pair<Bundle, torch::Tensor> SliceRun::forward() {
  Bundle bundle = inputs_;
  for (std::size_t i = first_; i <= last_; ++i) {
    Block& block = *model_.blocks[i];
    seed_block_forward(block, seed_, /*step=*/0, /*microbatch=*/0);
    bundle = block.forward(bundle);
  }
  torch::Tensor loss = ends_model_ ? model_.loss(bundle, targets_) : torch::Tensor();
  return {std::move(bundle), std::move(loss)};
}

double SliceRun::backward(const std::pair<Bundle, torch::Tensor>& result,
                          const DeviceStopwatch& stopwatch) {
  const auto& [output, loss] = result;
  std::vector<torch::Tensor> roots;
  std::vector<torch::Tensor> grads;
  if (loss.defined()) {
    roots.push_back(loss);
    grads.push_back(torch::ones_like(loss));
  } else {
    for (const auto& entry : output) {
      const torch::Tensor& t = entry.second;
      if (t.requires_grad() && t.grad_fn()) {  // produced here (not a leaf passed through)
        roots.push_back(t);
        grads.push_back(torch::ones_like(t));
      }
    }
  }
  clear_gradients();
  if (roots.empty()) return 0;
  return stopwatch.time_ms([&] { torch::autograd::backward(roots, grads); });
}

double SliceRun::step_ms(const DeviceStopwatch& stopwatch) {
  std::pair<Bundle, torch::Tensor> result;
  double forward_ms = stopwatch.time_ms([&] { result = forward(); });
  return forward_ms + backward(result, stopwatch);
}

void SliceRun::clear_gradients() const {
  for (const torch::Tensor& t : grad_holders_) {
    if (t.grad().defined()) t.mutable_grad() = torch::Tensor();
  }
}

}  // namespace repipe
