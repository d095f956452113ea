// datasets/batch.h: what flows through a model: bundles of named tensors.
//
// A Bundle carries every tensor a block needs, keyed by name ("x", "hidden", "attention_mask"),
// so skip connections and masks cross stage boundaries like activations. A Batch splits a
// step's data into the inputs (read by the first stage) and the targets (read by the last),
// so labels never travel through the pipeline.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace repipe {

using Bundle = std::map<std::string, torch::Tensor>;

struct Batch {
  Bundle inputs;
  Bundle targets;
};

// Splits every tensor of `bundle` along dim 0 into `parts` equal micro-batches (views).
std::vector<Bundle> split_bundle(const Bundle& bundle, std::int64_t parts);

// Moves every tensor to `device`.
Bundle bundle_to(const Bundle& bundle, const torch::Device& device);

// The bytes of `tensor`'s elements (numel * element size); 0 for an undefined tensor.
std::int64_t tensor_bytes(const torch::Tensor& tensor);
// The bytes of every tensor of `bundle`.
std::int64_t bundle_bytes(const Bundle& bundle);

}  // namespace repipe
