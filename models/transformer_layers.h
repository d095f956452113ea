// models/transformer_layers.h: pieces shared by the BERT and GPT-2 blocks (models/ internal).
//
// The layers hold their weights as plain parameters drawn once at construction (normal with a
// given stddev, biases zero) instead of torch::nn::Linear/Embedding, whose default init would
// draw every large matrix twice. Parameter paths follow Hugging Face ("attention.self.query.
// weight") so a block's state maps onto a Hugging Face checkpoint by prefix.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

namespace repipe::zoo {

// y = x W^T + b, with W [out, in] ~ normal(0, stddev) and b zero (or absent).
class DenseImpl : public torch::nn::Module {
 public:
  DenseImpl(std::int64_t in, std::int64_t out, double stddev, bool bias = true);
  // A given initial weight [out, in] (a tied copy) and a zero bias if `bias`.
  DenseImpl(torch::Tensor weight_init, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out], undefined without bias
};
TORCH_MODULE(Dense);

// A lookup table [rows, width]: normal(0, stddev) unless `init` is given (tied weights).
class TableImpl : public torch::nn::Module {
 public:
  TableImpl(std::int64_t rows, std::int64_t width, double stddev);
  explicit TableImpl(torch::Tensor init);
  torch::Tensor forward(const torch::Tensor& ids);

  torch::Tensor weight;  // [rows, width]
};
TORCH_MODULE(Table);

// An empty module registered as `name` under `parent`, to nest parameter paths.
std::shared_ptr<torch::nn::Module> add_child(torch::nn::Module& parent, const std::string& name);

torch::nn::LayerNorm layer_norm(std::int64_t width, double eps);

// [N, L, heads * d] -> [N, heads, L, d]
torch::Tensor split_heads(const torch::Tensor& x, std::int64_t heads);
// [N, heads, L, d] -> [N, L, heads * d]
torch::Tensor merge_heads(const torch::Tensor& x);

// softmax(q k^T / sqrt(d) + bias) v on [N, heads, L, d]; `bias` is additive and broadcasts to
// [N, heads, L, L]. Plain matmul/softmax: libtorch 1.13 has no scaled_dot_product_attention.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias, double dropout, bool training);

// Default sequence length of the transformer models, and the check of an asked-for one.
inline constexpr std::int64_t kDefaultSeqLen = 128;
std::int64_t transformer_seq_len(const std::string& model, std::int64_t asked,
                                 std::int64_t positions, std::int64_t minimum);

}  // namespace repipe::zoo
