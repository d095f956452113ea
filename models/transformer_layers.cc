// models/transformer_layers.cc: shared transformer pieces (see transformer_layers.h).
#include "models/transformer_layers.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace repipe::zoo {

DenseImpl::DenseImpl(std::int64_t in, std::int64_t out, double stddev, bool with_bias)
    : DenseImpl(torch::empty({out, in}).normal_(0.0, stddev), with_bias) {}

DenseImpl::DenseImpl(torch::Tensor weight_init, bool with_bias) {
  std::int64_t out = weight_init.size(0);
  weight = register_parameter("weight", std::move(weight_init));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor DenseImpl::forward(const torch::Tensor& x) {
  return bias.defined() ? torch::linear(x, weight, bias) : torch::linear(x, weight);
}

TableImpl::TableImpl(std::int64_t rows, std::int64_t width, double stddev)
    : TableImpl(torch::empty({rows, width}).normal_(0.0, stddev)) {}

TableImpl::TableImpl(torch::Tensor init) {
  weight = register_parameter("weight", std::move(init));
}

torch::Tensor TableImpl::forward(const torch::Tensor& ids) {
  return torch::embedding(weight, ids);
}

std::shared_ptr<torch::nn::Module> add_child(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

torch::nn::LayerNorm layer_norm(std::int64_t width, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(eps));
}

torch::Tensor split_heads(const torch::Tensor& x, std::int64_t heads) {
  std::int64_t n = x.size(0), l = x.size(1), h = x.size(2);
  return x.view({n, l, heads, h / heads}).transpose(1, 2);
}

torch::Tensor merge_heads(const torch::Tensor& x) {
  std::int64_t n = x.size(0), heads = x.size(1), l = x.size(2), d = x.size(3);
  return x.transpose(1, 2).reshape({n, l, heads * d});
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias, double dropout, bool training) {
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2)) * scale;  // [N, heads, L, L]
  if (bias.defined()) scores = scores + bias;
  torch::Tensor probs = torch::softmax(scores, -1);  // [N, heads, L, L]
  probs = torch::dropout(probs, dropout, training);
  return torch::matmul(probs, v);  // [N, heads, L, d]
}

std::int64_t transformer_seq_len(const std::string& model, std::int64_t asked,
                                 std::int64_t positions, std::int64_t minimum) {
  std::int64_t len = asked != 0 ? asked : std::min(kDefaultSeqLen, positions);
  if (len > positions) {
    throw UsageError(model + ": seq_len " + std::to_string(len) + " exceeds the model's " +
                     std::to_string(positions) + " positions");
  }
  if (len < minimum) {
    throw UsageError(model + ": seq_len " + std::to_string(len) + " is below the minimum of " +
                     std::to_string(minimum));
  }
  return len;
}

}  // namespace repipe::zoo
