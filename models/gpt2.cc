// models/gpt2.cc: GPT-2 (Hugging Face GPT2LMHeadModel) as named blocks.
//
// Blocks: "<name>.embeddings" (input_ids -> hidden = wte + wpe), "<name>.h.<i>" (pre-LN causal
// transformer layers), "<name>.head" (ln_f and the LM head). The LM head weight is tied to wte:
// the head block holds its own copy, started equal via tied_weight_init. Hugging Face stores
// c_attn/c_proj/c_fc as Conv1D weights [in, out]; here they are [out, in] (same counts).
#include <cmath>
#include <limits>

#include "common/error.h"
#include "models/transformer_layers.h"
#include "models/zoo_builders.h"

namespace repipe::zoo {
namespace {

constexpr double kInitStd = 0.02;
constexpr double kLayerNormEps = 1e-5;
constexpr double kDropout = 0.1;
const char* const kWtePath = "wte.weight";

class Gpt2Embeddings : public Block {
 public:
  Gpt2Embeddings(const std::string& name, const TransformerShape& s, std::uint64_t seed)
      : Block(name),
        wte_(register_module("wte", Table(tied_weight_init(name + "." + kWtePath,
                                                           {s.vocab, s.hidden}, seed, kInitStd)))),
        wpe_(register_module("wpe", Table(s.positions, s.hidden, kInitStd))) {}

  Bundle forward(const Bundle& input) override {
    torch::Tensor ids = need(input, "input_ids");                         // [N, L] int64
    torch::Tensor positions = torch::arange(ids.size(1), ids.options());  // [L]
    torch::Tensor hidden = wte_(ids) + wpe_(positions);                   // [N, L, H]
    Bundle output = input;
    output.erase("input_ids");
    output["hidden"] = torch::dropout(hidden, kDropout, is_training());
    return output;
  }

 private:
  Table wte_, wpe_;
};

// One pre-LN layer: x + attn(ln_1(x)), then y + mlp(ln_2(y)).
class Gpt2Layer : public Block {
 public:
  Gpt2Layer(const std::string& name, const TransformerShape& s) : Block(name), heads_(s.heads) {
    // Hugging Face scales the residual projections by 1/sqrt(2 * layers) (GPT-2 paper, 2.3).
    double proj_std = kInitStd / std::sqrt(2.0 * static_cast<double>(s.layers));
    ln_1_ = register_module("ln_1", layer_norm(s.hidden, kLayerNormEps));
    auto attn = add_child(*this, "attn");
    c_attn_ = attn->register_module("c_attn", Dense(s.hidden, 3 * s.hidden, kInitStd));
    attn_proj_ = attn->register_module("c_proj", Dense(s.hidden, s.hidden, proj_std));
    ln_2_ = register_module("ln_2", layer_norm(s.hidden, kLayerNormEps));
    auto mlp = add_child(*this, "mlp");
    c_fc_ = mlp->register_module("c_fc", Dense(s.hidden, s.intermediate, kInitStd));
    mlp_proj_ = mlp->register_module("c_proj", Dense(s.intermediate, s.hidden, proj_std));
  }

  Bundle forward(const Bundle& input) override {
    torch::Tensor x = need(input, "hidden");  // [N, L, H]
    bool training = is_training();
    std::int64_t l = x.size(1);
    std::vector<torch::Tensor> qkv = c_attn_(ln_1_(x)).chunk(3, -1);  // 3 x [N, L, H]
    // -inf above the diagonal: a token sees only itself and earlier tokens. [L, L]
    torch::Tensor causal =
        torch::zeros({l, l}, x.options())
            .masked_fill(torch::ones({l, l}, x.options().dtype(torch::kBool)).triu(1),
                         -std::numeric_limits<double>::infinity());
    torch::Tensor context =
        merge_heads(attention(split_heads(qkv[0], heads_), split_heads(qkv[1], heads_),
                              split_heads(qkv[2], heads_), causal, kDropout,
                              training));  // [N, L, H]
    torch::Tensor y = x + torch::dropout(attn_proj_(context), kDropout, training);
    torch::Tensor inner = torch::gelu(c_fc_(ln_2_(y)), "tanh");  // [N, L, 4H], "gelu_new"
    Bundle output = input;
    output["hidden"] = y + torch::dropout(mlp_proj_(inner), kDropout, training);  // [N, L, H]
    return output;
  }

 private:
  std::int64_t heads_;
  torch::nn::LayerNorm ln_1_{nullptr}, ln_2_{nullptr};
  Dense c_attn_{nullptr}, attn_proj_{nullptr}, c_fc_{nullptr}, mlp_proj_{nullptr};
};

// ln_f, then logits = hidden wte^T over the whole sequence (no bias).
class Gpt2Head : public Block {
 public:
  Gpt2Head(const std::string& name, const TransformerShape& s, torch::Tensor weight_init)
      : Block(name), ln_f_(register_module("ln_f", layer_norm(s.hidden, kLayerNormEps))) {
    weight_ = register_parameter("weight", std::move(weight_init));  // [V, H]
  }

  Bundle forward(const Bundle& input) override {
    torch::Tensor hidden = need(input, "hidden");  // [N, L, H]
    Bundle output = input;
    output.erase("hidden");
    output["logits"] = torch::linear(ln_f_(hidden), weight_);  // [N, L, V]
    return output;
  }

 private:
  torch::nn::LayerNorm ln_f_;
  torch::Tensor weight_;
};

}  // namespace

Model build_gpt2(const std::string& name, const TransformerShape& shape,
                 const ModelOptions& options) {
  REPIPE_CHECK(shape.hidden % shape.heads == 0, name << ": hidden not divisible by heads");
  std::int64_t len = transformer_seq_len(name, options.seq_len, shape.positions, 1);

  Model model;
  model.name = name;
  model.sample = {TaskKind::kCausalLM, {}, 0, shape.vocab, len, 0};
  std::string embeddings = name + ".embeddings";
  std::string owner = embeddings + "." + kWtePath;

  seed_block_init(embeddings, options.seed);
  model.blocks.push_back(std::make_shared<Gpt2Embeddings>(embeddings, shape, options.seed));
  for (std::int64_t i = 0; i < shape.layers; ++i) {
    std::string layer = name + ".h." + std::to_string(i);
    seed_block_init(layer, options.seed);
    model.blocks.push_back(std::make_shared<Gpt2Layer>(layer, shape));
  }
  std::string head = name + ".head";
  seed_block_init(head, options.seed);
  model.blocks.push_back(std::make_shared<Gpt2Head>(
      head, shape, tied_weight_init(owner, {shape.vocab, shape.hidden}, options.seed, kInitStd)));
  model.ties = {{owner, head + ".weight"}};
  return model;
}

}  // namespace repipe::zoo
