// models/tensor_block.h: a Block around a torch::nn::Sequential on one named tensor.
//
// Most CNN and MLP blocks read one tensor and write one: "x" -> "x", and the head "x" ->
// "logits". The rest of the bundle passes through.
#pragma once

#include "models/block.h"

namespace repipe {

class TensorBlock : public Block {
 public:
  TensorBlock(std::string name, torch::nn::Sequential body, std::string input_key = "x",
              std::string output_key = "x");

  Bundle forward(const Bundle& input) override;
  bool draws_random_numbers() const override { return random_; }

 private:
  torch::nn::Sequential body_;
  std::string input_key_;
  std::string output_key_;
  bool random_;  // the body holds a dropout module
};

}  // namespace repipe
