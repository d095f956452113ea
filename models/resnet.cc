// models/resnet.cc: torchvision's bottleneck ResNet (v1.5) as named blocks.
//
// Blocks: "<name>.stem" (conv7x7/2, BN, ReLU, maxpool3x3/2), one block per bottleneck
// "<name>.layer<s>.<i>" (its skip connection stays inside the block), and "<name>.head"
// (global average pool, flatten, fc -> "logits"). depths {3,4,6,3} with width 64 is ResNet-50.
// Weights are initialised as torchvision does (convs Kaiming-normal fan-out, BN 1/0).
#include "common/error.h"
#include "models/tensor_block.h"
#include "models/zoo_builders.h"

namespace repipe::zoo {
namespace {

namespace nn = torch::nn;

constexpr std::int64_t kExpansion = 4;

nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride) {
  nn::Conv2d c(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
  torch::NoGradGuard no_grad;
  nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
  return c;
}

// relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + downsample(x)); the stride sits on
// the 3x3 conv (v1.5).
class Bottleneck : public Block {
 public:
  Bottleneck(std::string name, std::int64_t in, std::int64_t planes, std::int64_t stride)
      : Block(std::move(name)),
        conv1_(register_module("conv1", conv(in, planes, 1, 1))),
        bn1_(register_module("bn1", nn::BatchNorm2d(planes))),
        conv2_(register_module("conv2", conv(planes, planes, 3, stride))),
        bn2_(register_module("bn2", nn::BatchNorm2d(planes))),
        conv3_(register_module("conv3", conv(planes, planes * kExpansion, 1, 1))),
        bn3_(register_module("bn3", nn::BatchNorm2d(planes * kExpansion))) {
    if (stride != 1 || in != planes * kExpansion) {
      downsample_ =
          register_module("downsample", nn::Sequential(conv(in, planes * kExpansion, 1, stride),
                                                       nn::BatchNorm2d(planes * kExpansion)));
    }
  }

  Bundle forward(const Bundle& input) override {
    auto it = input.find("x");
    REPIPE_CHECK(it != input.end(), block_name() << " needs 'x' in its input");
    const torch::Tensor& x = it->second;             // [N, C_in, S, S]
    torch::Tensor y = torch::relu(bn1_(conv1_(x)));  // [N, planes, S, S]
    y = torch::relu(bn2_(conv2_(y)));                // [N, planes, S/stride, S/stride]
    y = bn3_(conv3_(y));                             // [N, 4 planes, S/stride, S/stride]
    torch::Tensor skip = downsample_ ? downsample_->forward(x) : x;
    Bundle output = input;
    output["x"] = torch::relu(y + skip);
    return output;
  }

 private:
  // Declared in registration order (torchvision's parameter order).
  nn::Conv2d conv1_;
  nn::BatchNorm2d bn1_;
  nn::Conv2d conv2_;
  nn::BatchNorm2d bn2_;
  nn::Conv2d conv3_;
  nn::BatchNorm2d bn3_;
  nn::Sequential downsample_{nullptr};
};

}  // namespace

Model build_resnet(const std::string& name, const ResNetShape& shape, const ModelOptions& options) {
  const auto& [depths, base_width, num_classes, default_side] = shape;
  REPIPE_CHECK(depths.size() == 4, name << ": a ResNet has four stages");
  std::int64_t side = options.image_size > 0 ? options.image_size : default_side;
  Model model;
  model.name = name;
  model.sample = {TaskKind::kClassification, {3, side, side}, num_classes};

  std::string stem_name = name + ".stem";
  seed_block_init(stem_name, options.seed);
  nn::Sequential stem(conv(3, base_width, 7, 2), nn::BatchNorm2d(base_width), nn::ReLU(),
                      nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  model.blocks.push_back(std::make_shared<TensorBlock>(stem_name, stem));

  std::int64_t in = base_width;
  for (std::size_t s = 0; s < depths.size(); ++s) {
    std::int64_t planes = base_width << s;  // 64, 128, 256, 512 for ResNet-50
    for (std::int64_t i = 0; i < depths[s]; ++i) {
      std::string block = name + ".layer" + std::to_string(s + 1) + "." + std::to_string(i);
      std::int64_t stride = (s > 0 && i == 0) ? 2 : 1;
      seed_block_init(block, options.seed);
      model.blocks.push_back(std::make_shared<Bottleneck>(block, in, planes, stride));
      in = planes * kExpansion;
    }
  }

  std::string head_name = name + ".head";
  seed_block_init(head_name, options.seed);
  nn::Sequential head(nn::AdaptiveAvgPool2d(1), nn::Flatten(), nn::Linear(in, num_classes));
  model.blocks.push_back(std::make_shared<TensorBlock>(head_name, head, "x", "logits"));
  return model;
}

}  // namespace repipe::zoo
