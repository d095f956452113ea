// models/mlp.cc: `mlp`, eight fully connected blocks; the smallest model that cuts into 4+ stages.
#include "models/tensor_block.h"
#include "models/zoo_builders.h"

namespace repipe::zoo {
namespace {
constexpr std::int64_t kInputs = 32;
constexpr std::int64_t kHidden = 64;
constexpr std::int64_t kClasses = 10;
constexpr int kLayers = 8;
}  // namespace

Model build_mlp(const ModelOptions& options) {
  Model model;
  model.name = "mlp";
  model.sample = {TaskKind::kClassification, {kInputs}, kClasses};
  for (int i = 0; i < kLayers; ++i) {
    std::int64_t in = i == 0 ? kInputs : kHidden;
    bool last = i == kLayers - 1;
    std::string name = "mlp.fc" + std::to_string(i + 1);
    seed_block_init(name, options.seed);
    torch::nn::Linear linear(in, last ? kClasses : kHidden);
    // He initialisation: torch's default shrinks the signal layer by layer, and eight layers
    // deep the model would barely learn.
    torch::nn::init::kaiming_normal_(linear->weight, 0.0, torch::kFanIn, torch::kReLU);
    torch::nn::init::zeros_(linear->bias);
    torch::nn::Sequential body(linear);
    if (!last) body->push_back(torch::nn::ReLU());
    model.blocks.push_back(std::make_shared<TensorBlock>(name, body, "x", last ? "logits" : "x"));
  }
  return model;
}

}  // namespace repipe::zoo
