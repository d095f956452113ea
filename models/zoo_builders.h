// models/zoo_builders.h: one builder per model family (internal to models/; use zoo.h).
#pragma once

#include "models/zoo.h"

namespace repipe::zoo {

Model build_mlp(const ModelOptions& options);
Model build_small_cnn(const ModelOptions& options);
Model build_vgg16(const ModelOptions& options);
// Bottleneck ResNet: depths {3,4,6,3} and width 64 give torchvision's ResNet-50; resnet-mini
// is narrow and shallow for CPU tests.
struct ResNetShape {
  std::vector<std::int64_t> depths;  // bottleneck blocks in each of the four stages
  std::int64_t base_width;           // channels of the stem and of stage 1's 3x3 convs
  std::int64_t num_classes;
  std::int64_t image_size;  // default input side
};
Model build_resnet(const std::string& name, const ResNetShape& shape, const ModelOptions& options);

struct TransformerShape {
  std::int64_t layers;
  std::int64_t hidden;
  std::int64_t heads;
  std::int64_t intermediate;  // feed-forward width
  std::int64_t vocab;
  std::int64_t positions;  // maximum sequence length
};
Model build_bert(const std::string& name, const TransformerShape& shape,
                 const ModelOptions& options);
Model build_gpt2(const std::string& name, const TransformerShape& shape,
                 const ModelOptions& options);

// The initial value of a tied weight, drawn from (seed, owner name) so that the owner block
// and the user block, built independently (maybe on different ranks), start equal.
torch::Tensor tied_weight_init(const std::string& owner, torch::IntArrayRef shape,
                               std::uint64_t seed, double stddev);

}  // namespace repipe::zoo
