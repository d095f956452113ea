// models/model.h: a model as an ordered list of named blocks, with its task and loss.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datasets/sample_spec.h"
#include "models/block.h"

namespace repipe {

// Two parameters that are one logical weight (GPT-2's input embedding and output head). Each
// holding block keeps its own copy, so the blocks may live on different stages; before every
// optimizer step both gradients are replaced by their sum (owner + user), so the copies stay
// equal. Counted and checkpointed once, as the owner.
struct TiedParameter {
  std::string owner;  // full parameter name, e.g. "gpt2.embeddings.wte.weight"
  std::string user;   // e.g. "gpt2.head.weight"
};

struct NamedTensor {
  std::string name;  // "<block name>.<parameter path>"
  torch::Tensor tensor;
};

class Model {
 public:
  std::string name;  // zoo name, e.g. "resnet50"
  std::vector<BlockPtr> blocks;
  SampleSpec sample;
  std::vector<TiedParameter> ties;

  // Runs every block in order (no seeding: see Block::seed_block_forward for training).
  Bundle forward(const Bundle& inputs) const;

  // Scalar training loss of the last block's output against the targets.
  torch::Tensor loss(const Bundle& output, const Bundle& targets) const;

  // (correct predictions, predictions) for accuracy: classes, masked tokens or next tokens.
  std::pair<std::int64_t, std::int64_t> correct(const Bundle& output, const Bundle& targets) const;

  // Parameters in block order with full names; tie users are included (they are real copies).
  std::vector<NamedTensor> named_parameters() const;
  // Buffers (BatchNorm running statistics) in block order with full names.
  std::vector<NamedTensor> named_buffers() const;

  // Logical parameter count: tie users are not counted again.
  std::int64_t parameter_count() const;

  void to(const torch::Device& device);
  void train(bool on);
};

// Full names of the parameters of one block, in registration order.
std::vector<NamedTensor> block_parameters(const Block& block);
// The bytes of one block's parameters.
std::int64_t block_parameter_bytes(const Block& block);

}  // namespace repipe
