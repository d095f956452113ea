// models/vgg.cc: `vgg16`, torchvision's VGG-16 (no BatchNorm) as one block per layer.
//
// Blocks "vgg16.conv1_1" ... "vgg16.conv5_3" are conv3x3 + ReLU (+ the 2x2 max pool that
// follows the last conv of a stage); "vgg16.fc6" holds the 7x7 adaptive average pool, flatten,
// Linear(25088, 4096), ReLU, Dropout; "vgg16.fc7" the second; "vgg16.fc8" writes "logits".
// Weights are initialised as torchvision does (convs Kaiming-normal fan-out, linears N(0, 0.01)).
#include "models/tensor_block.h"
#include "models/zoo_builders.h"

namespace repipe::zoo {
namespace {

namespace nn = torch::nn;

constexpr std::int64_t kClasses = 1000;
constexpr std::int64_t kDefaultSide = 224;
constexpr std::int64_t kPooledSide = 7;
constexpr std::int64_t kFcWidth = 4096;
constexpr double kDropout = 0.5;

nn::Conv2d conv3x3(std::int64_t in, std::int64_t out) {
  nn::Conv2d conv(nn::Conv2dOptions(in, out, 3).padding(1));
  torch::NoGradGuard no_grad;
  nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
  nn::init::zeros_(conv->bias);
  return conv;
}

nn::Linear linear(std::int64_t in, std::int64_t out) {
  nn::Linear fc(in, out);
  torch::NoGradGuard no_grad;
  nn::init::normal_(fc->weight, 0.0, 0.01);
  nn::init::zeros_(fc->bias);
  return fc;
}

}  // namespace

Model build_vgg16(const ModelOptions& options) {
  std::int64_t side = options.image_size > 0 ? options.image_size : kDefaultSide;
  Model model;
  model.name = "vgg16";
  model.sample = {TaskKind::kClassification, {3, side, side}, kClasses};

  // Output channels of each stage's convs (torchvision configuration "D").
  const std::vector<std::vector<std::int64_t>> stages = {
      {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
  std::int64_t in = 3;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    for (std::size_t c = 0; c < stages[s].size(); ++c) {
      std::string name = "vgg16.conv" + std::to_string(s + 1) + "_" + std::to_string(c + 1);
      seed_block_init(name, options.seed);
      std::int64_t out = stages[s][c];
      nn::Sequential body(conv3x3(in, out), nn::ReLU());
      if (c + 1 == stages[s].size()) body->push_back(nn::MaxPool2d(2));
      model.blocks.push_back(std::make_shared<TensorBlock>(name, body));
      in = out;
    }
  }

  seed_block_init("vgg16.fc6", options.seed);
  nn::Sequential fc6(nn::AdaptiveAvgPool2d(kPooledSide), nn::Flatten(),
                     linear(in * kPooledSide * kPooledSide, kFcWidth), nn::ReLU(),
                     nn::Dropout(kDropout));
  model.blocks.push_back(std::make_shared<TensorBlock>("vgg16.fc6", fc6));
  seed_block_init("vgg16.fc7", options.seed);
  nn::Sequential fc7(linear(kFcWidth, kFcWidth), nn::ReLU(), nn::Dropout(kDropout));
  model.blocks.push_back(std::make_shared<TensorBlock>("vgg16.fc7", fc7));
  seed_block_init("vgg16.fc8", options.seed);
  nn::Sequential fc8(linear(kFcWidth, kClasses));
  model.blocks.push_back(std::make_shared<TensorBlock>("vgg16.fc8", fc8, "x", "logits"));
  return model;
}

}  // namespace repipe::zoo
