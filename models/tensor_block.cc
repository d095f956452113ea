#include "models/tensor_block.h"

namespace repipe {

TensorBlock::TensorBlock(std::string name, torch::nn::Sequential body, std::string input_key,
                         std::string output_key)
    : Block(std::move(name)),
      body_(register_module("body", std::move(body))),
      input_key_(std::move(input_key)),
      output_key_(std::move(output_key)),
      random_(false) {
  for (const auto& module : body_->modules(/*include_self=*/false)) {
    const std::string& type = module->name();  // "torch::nn::Dropout", ...
    if (type.find("Dropout") != std::string::npos) random_ = true;
  }
}

Bundle TensorBlock::forward(const Bundle& input) {
  torch::Tensor x = need(input, input_key_);
  Bundle output = input;
  if (input_key_ != output_key_) output.erase(input_key_);
  output[output_key_] = body_->forward(x);
  return output;
}

}  // namespace repipe
