// models/block.h: the unit of partitioning, profiling, migration and checkpointing.
//
// A Block is a libtorch module with a stable, globally unique name ("resnet50.layer3.2") that
// maps a Bundle of named tensors to a Bundle. Entries a block does not consume pass through
// unchanged, so masks and positions reach the blocks that need them.
#pragma once

#include <memory>
#include <string>

#include "datasets/batch.h"

namespace repipe {

class Block : public torch::nn::Module {
 public:
  explicit Block(std::string name) : block_name_(std::move(name)) {}

  virtual Bundle forward(const Bundle& input) = 0;

  const std::string& block_name() const { return block_name_; }

  // Whether forward draws random numbers (dropout). Blocks that do not are not re-seeded
  // before each forward, which saves a generator reset per block and micro-batch.
  virtual bool draws_random_numbers() const { return true; }

 protected:
  // The tensor `key` of a forward's input; its absence is an error naming this block.
  torch::Tensor need(const Bundle& input, const std::string& key) const;

 private:
  std::string block_name_;
};

using BlockPtr = std::shared_ptr<Block>;

// Seeds the default generators (CPU and CUDA) for `block`'s forward at (seed, step, micro-batch),
// so dropout draws the same masks wherever the block runs. A no-op for blocks that draw nothing.
void seed_block_forward(const Block& block, std::uint64_t seed, std::int64_t step,
                        std::int64_t microbatch);

// Seeds the default generators to initialise the block called `block_name`.
void seed_block_init(const std::string& block_name, std::uint64_t seed);

}  // namespace repipe
