// models/bert.cc: BERT pre-training (Hugging Face BertForPreTraining) as named blocks.
//
// Blocks: "<name>.embeddings" (input_ids, token_type_ids, attention_mask -> hidden,
// attention_bias), "<name>.layer.<i>" (post-LN encoder layers), "<name>.heads" (pooler, NSP, and
// the MLM head evaluated only at mlm_positions). Parameter paths inside a block follow Hugging
// Face ("layer.3" + "attention.self.query.weight"). The MLM decoder weight is tied to the word
// embeddings: the heads block holds its own copy, started equal via tied_weight_init.
// Unlike Hugging Face, row 0 ([PAD]) of the word embeddings is not zeroed at init: both tied
// copies come from tied_weight_init unchanged.
//
// Masked positions per sequence: P = ceil(0.15 * L), at least 1 and at most L - 1 (position 0
// is [CLS]); P = 20 at BERT's L = 128.
#include <algorithm>

#include "common/error.h"
#include "models/transformer_layers.h"
#include "models/zoo_builders.h"

namespace repipe::zoo {
namespace {

constexpr double kInitStd = 0.02;
constexpr double kLayerNormEps = 1e-12;
constexpr double kDropout = 0.1;
constexpr std::int64_t kTokenTypes = 2;
constexpr double kMaskBias = -10000.0;  // added to the scores of padding keys, as Hugging Face
const char* const kWordEmbeddingPath = "word_embeddings.weight";

class BertEmbeddings : public Block {
 public:
  BertEmbeddings(const std::string& name, const TransformerShape& s, std::uint64_t seed)
      : Block(name),
        word_(register_module("word_embeddings",
                              Table(tied_weight_init(name + "." + kWordEmbeddingPath,
                                                     {s.vocab, s.hidden}, seed, kInitStd)))),
        position_(register_module("position_embeddings", Table(s.positions, s.hidden, kInitStd))),
        token_type_(
            register_module("token_type_embeddings", Table(kTokenTypes, s.hidden, kInitStd))),
        norm_(register_module("LayerNorm", layer_norm(s.hidden, kLayerNormEps))) {}

  Bundle forward(const Bundle& input) override {
    torch::Tensor ids = need(input, "input_ids");  // [N, L] int64
    std::int64_t n = ids.size(0), l = ids.size(1);
    Bundle output = input;
    // Token types and mask are optional: absent means one segment, no padding.
    torch::Tensor types = input.count("token_type_ids") ? input.at("token_type_ids")
                                                        : torch::zeros_like(ids);  // [N, L]
    torch::Tensor mask = input.count("attention_mask") ? input.at("attention_mask")
                                                       : torch::ones_like(ids);     // [N, L]
    torch::Tensor positions = torch::arange(l, ids.options());                      // [L]
    torch::Tensor hidden = word_(ids) + position_(positions) + token_type_(types);  // [N, L, H]
    hidden = torch::dropout(norm_(hidden), kDropout, is_training());
    // 0 where a key may be attended to, kMaskBias at padding: [N, 1, 1, L]
    torch::Tensor bias = (1.0 - mask.to(hidden.scalar_type())).view({n, 1, 1, l}) * kMaskBias;
    output.erase("input_ids");
    output.erase("token_type_ids");
    output.erase("attention_mask");
    output["hidden"] = hidden;
    output["attention_bias"] = bias;
    return output;
  }

 private:
  Table word_, position_, token_type_;
  torch::nn::LayerNorm norm_;
};

// One post-LN encoder layer: LN(x + attention(x)), then LN(y + FFN(y)).
class BertLayer : public Block {
 public:
  BertLayer(const std::string& name, const TransformerShape& s) : Block(name), heads_(s.heads) {
    auto attention = add_child(*this, "attention");
    auto self = add_child(*attention, "self");
    query_ = self->register_module("query", Dense(s.hidden, s.hidden, kInitStd));
    key_ = self->register_module("key", Dense(s.hidden, s.hidden, kInitStd));
    value_ = self->register_module("value", Dense(s.hidden, s.hidden, kInitStd));
    auto attention_output = add_child(*attention, "output");
    attention_dense_ =
        attention_output->register_module("dense", Dense(s.hidden, s.hidden, kInitStd));
    attention_norm_ =
        attention_output->register_module("LayerNorm", layer_norm(s.hidden, kLayerNormEps));
    auto intermediate = add_child(*this, "intermediate");
    intermediate_ =
        intermediate->register_module("dense", Dense(s.hidden, s.intermediate, kInitStd));
    auto output = add_child(*this, "output");
    output_dense_ = output->register_module("dense", Dense(s.intermediate, s.hidden, kInitStd));
    output_norm_ = output->register_module("LayerNorm", layer_norm(s.hidden, kLayerNormEps));
  }

  Bundle forward(const Bundle& input) override {
    torch::Tensor x = need(input, "hidden");             // [N, L, H]
    torch::Tensor bias = need(input, "attention_bias");  // [N, 1, 1, L]
    bool training = is_training();
    torch::Tensor q = split_heads(query_(x), heads_);  // [N, heads, L, d]
    torch::Tensor k = split_heads(key_(x), heads_);
    torch::Tensor v = split_heads(value_(x), heads_);
    torch::Tensor context = merge_heads(attention(q, k, v, bias, kDropout, training));  // [N, L, H]
    torch::Tensor y =
        attention_norm_(x + torch::dropout(attention_dense_(context), kDropout, training));
    torch::Tensor inner = torch::gelu(intermediate_(y));  // [N, L, I]
    torch::Tensor out =
        output_norm_(y + torch::dropout(output_dense_(inner), kDropout, training));  // [N, L, H]
    Bundle output = input;
    output["hidden"] = out;
    return output;
  }

 private:
  std::int64_t heads_;
  Dense query_{nullptr}, key_{nullptr}, value_{nullptr}, attention_dense_{nullptr};
  Dense intermediate_{nullptr}, output_dense_{nullptr};
  torch::nn::LayerNorm attention_norm_{nullptr}, output_norm_{nullptr};
};

// Pooler + NSP on token 0, and the MLM head on the hidden states at mlm_positions only.
class BertHeads : public Block {
 public:
  BertHeads(const std::string& name, const TransformerShape& s, torch::Tensor decoder_init)
      : Block(name) {
    auto pooler = add_child(*this, "pooler");
    pooler_ = pooler->register_module("dense", Dense(s.hidden, s.hidden, kInitStd));
    auto cls = add_child(*this, "cls");
    auto predictions = add_child(*cls, "predictions");
    auto transform = add_child(*predictions, "transform");
    transform_ = transform->register_module("dense", Dense(s.hidden, s.hidden, kInitStd));
    transform_norm_ = transform->register_module("LayerNorm", layer_norm(s.hidden, kLayerNormEps));
    decoder_ = predictions->register_module("decoder", Dense(std::move(decoder_init), true));
    nsp_ = cls->register_module("seq_relationship", Dense(s.hidden, 2, kInitStd));
  }

  Bundle forward(const Bundle& input) override {
    torch::Tensor hidden = need(input, "hidden");            // [N, L, H]
    torch::Tensor positions = need(input, "mlm_positions");  // [N, P] int64
    std::int64_t n = hidden.size(0), h = hidden.size(2), p = positions.size(1);
    torch::Tensor pooled = torch::tanh(pooler_(hidden.select(1, 0)));  // [N, H]
    torch::Tensor picked =
        hidden.gather(1, positions.unsqueeze(-1).expand({n, p, h}));     // [N, P, H]
    torch::Tensor t = transform_norm_(torch::gelu(transform_(picked)));  // [N, P, H]
    Bundle output = input;
    output.erase("hidden");
    output.erase("mlm_positions");
    output["mlm_logits"] = decoder_(t);   // [N, P, V]
    output["nsp_logits"] = nsp_(pooled);  // [N, 2]
    return output;
  }

 private:
  Dense pooler_{nullptr}, transform_{nullptr}, decoder_{nullptr}, nsp_{nullptr};
  torch::nn::LayerNorm transform_norm_{nullptr};
};

}  // namespace

Model build_bert(const std::string& name, const TransformerShape& shape,
                 const ModelOptions& options) {
  REPIPE_CHECK(shape.hidden % shape.heads == 0, name << ": hidden not divisible by heads");
  // At least [CLS] and one masked token.
  std::int64_t len = transformer_seq_len(name, options.seq_len, shape.positions, 2);
  std::int64_t predictions = std::clamp<std::int64_t>((15 * len + 99) / 100, 1, len - 1);

  Model model;
  model.name = name;
  model.sample = {TaskKind::kMaskedLM, {}, 0, shape.vocab, len, predictions};
  std::string embeddings = name + ".embeddings";
  std::string owner = embeddings + "." + kWordEmbeddingPath;

  seed_block_init(embeddings, options.seed);
  model.blocks.push_back(std::make_shared<BertEmbeddings>(embeddings, shape, options.seed));
  for (std::int64_t i = 0; i < shape.layers; ++i) {
    std::string layer = name + ".layer." + std::to_string(i);
    seed_block_init(layer, options.seed);
    model.blocks.push_back(std::make_shared<BertLayer>(layer, shape));
  }
  std::string heads = name + ".heads";
  seed_block_init(heads, options.seed);
  model.blocks.push_back(std::make_shared<BertHeads>(
      heads, shape, tied_weight_init(owner, {shape.vocab, shape.hidden}, options.seed, kInitStd)));
  model.ties = {{owner, heads + ".cls.predictions.decoder.weight"}};
  return model;
}

}  // namespace repipe::zoo
