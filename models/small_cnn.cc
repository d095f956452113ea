// models/small_cnn.cc: `small_cnn`, four conv blocks with BatchNorm and a linear head; 3x32x32, 10
// classes.
#include "models/tensor_block.h"
#include "models/zoo_builders.h"

namespace repipe::zoo {
namespace {

namespace nn = torch::nn;

nn::Sequential conv_bn_relu(std::int64_t in, std::int64_t out, bool pool) {
  nn::Sequential body(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)),
                      nn::BatchNorm2d(out), nn::ReLU());
  if (pool) body->push_back(nn::MaxPool2d(2));
  return body;
}

}  // namespace

Model build_small_cnn(const ModelOptions& options) {
  constexpr std::int64_t kClasses = 10;
  std::int64_t side = options.image_size > 0 ? options.image_size : 32;
  Model model;
  model.name = "small_cnn";
  model.sample = {TaskKind::kClassification, {3, side, side}, kClasses};
  struct Spec {
    const char* name;
    std::int64_t in, out;
    bool pool;
  };
  for (const Spec& s : {Spec{"conv1", 3, 8, false}, Spec{"conv2", 8, 16, true},
                        Spec{"conv3", 16, 16, true}, Spec{"conv4", 16, 32, true}}) {
    std::string name = std::string("small_cnn.") + s.name;
    seed_block_init(name, options.seed);
    model.blocks.push_back(std::make_shared<TensorBlock>(name, conv_bn_relu(s.in, s.out, s.pool)));
  }
  seed_block_init("small_cnn.head", options.seed);
  nn::Sequential head(nn::AdaptiveAvgPool2d(4), nn::Flatten(), nn::Linear(32 * 4 * 4, kClasses));
  model.blocks.push_back(std::make_shared<TensorBlock>("small_cnn.head", head, "x", "logits"));
  return model;
}

}  // namespace repipe::zoo
