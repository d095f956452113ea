#include "datasets/synthetic.h"

#include <ATen/CPUGeneratorImpl.h>

#include "common/error.h"
#include "common/seed.h"

namespace repipe {
namespace {

constexpr std::uint64_t kRuleStream = 0x5eed'0001;  // the hidden rule of a task
constexpr std::int64_t kMaskToken = 103;            // [MASK] in BERT's vocabulary
constexpr std::int64_t kMaxAlphabet = 1000;         // tokens the sequences use
constexpr double kSuccessorProbability = 0.9;       // else the next token is random

at::Generator generator(std::uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

std::vector<std::int64_t> with_batch(std::int64_t n, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> full{n};
  full.insert(full.end(), shape.begin(), shape.end());
  return full;
}

// Classification: x = noise + template[label]; the templates are the hidden rule.
Batch classification_batch(const SampleSpec& spec, std::int64_t n, std::uint64_t seed,
                           at::Generator& gen) {
  at::Generator rule = generator(mix_seed(seed, kRuleStream));
  torch::Tensor templates = torch::randn(with_batch(spec.num_classes, spec.input_shape), rule);
  torch::Tensor labels = torch::randint(spec.num_classes, {n}, gen, torch::kLong);
  torch::Tensor x =
      torch::randn(with_batch(n, spec.input_shape), gen) + templates.index_select(0, labels);
  return {{{"x", x}}, {{"labels", labels}}};
}

// Token chains: each next token is successor[token] with probability 0.9, else random.
// `restart` (bool [N]) starts the chain afresh at column `restart_at` (BERT's NSP negatives).
torch::Tensor token_chains(const SampleSpec& spec, std::int64_t n, std::int64_t length,
                           std::uint64_t seed, at::Generator& gen, const torch::Tensor& restart,
                           std::int64_t restart_at) {
  std::int64_t alphabet = std::min(spec.vocab_size, kMaxAlphabet);
  at::Generator rule = generator(mix_seed(seed, kRuleStream));
  torch::Tensor successor = torch::randperm(alphabet, rule, torch::kLong);
  torch::Tensor random_tokens = torch::randint(alphabet, {n, length}, gen, torch::kLong);
  torch::Tensor follow = torch::rand({n, length}, gen) < kSuccessorProbability;
  std::vector<torch::Tensor> columns{random_tokens.select(1, 0)};
  for (std::int64_t i = 1; i < length; ++i) {
    torch::Tensor next = successor.index_select(0, columns.back());
    torch::Tensor keep = follow.select(1, i);
    if (i == restart_at && restart.defined()) keep = keep & restart.logical_not();
    columns.push_back(torch::where(keep, next, random_tokens.select(1, i)));
  }
  return torch::stack(columns, 1);
}

Batch causal_lm_batch(const SampleSpec& spec, std::int64_t n, std::uint64_t seed,
                      at::Generator& gen) {
  std::int64_t l = spec.seq_len;
  torch::Tensor chain = token_chains(spec, n, l + 1, seed, gen, {}, -1);
  return {{{"input_ids", chain.narrow(1, 0, l).contiguous()}},
          {{"labels", chain.narrow(1, 1, l).contiguous()}}};
}

// BERT: two segments; negatives (nsp_labels = 1) restart the chain at segment B. P distinct
// masked positions per row (never position 0) hold [MASK]; mlm_ids are the hidden tokens.
Batch masked_lm_batch(const SampleSpec& spec, std::int64_t n, std::uint64_t seed,
                      at::Generator& gen) {
  std::int64_t l = spec.seq_len;
  std::int64_t p = spec.max_predictions;
  std::int64_t half = l / 2;
  torch::Tensor nsp = torch::randint(2, {n}, gen, torch::kLong);
  torch::Tensor chain = token_chains(spec, n, l, seed, gen, nsp.to(torch::kBool), half);
  torch::Tensor order = torch::rand({n, l - 1}, gen).argsort(/*dim=*/1, /*descending=*/false);
  torch::Tensor positions = std::get<0>((order.narrow(1, 0, p) + 1).sort(1));
  torch::Tensor mlm_ids = chain.gather(1, positions);
  torch::Tensor input_ids = chain.scatter(1, positions, kMaskToken);
  torch::Tensor token_types =
      (torch::arange(l, torch::kLong) >= half).to(torch::kLong).expand({n, l});
  return {{{"input_ids", input_ids},
           {"token_type_ids", token_types.contiguous()},
           {"attention_mask", torch::ones({n, l}, torch::kLong)},
           {"mlm_positions", positions}},
          {{"mlm_ids", mlm_ids}, {"nsp_labels", nsp}}};
}

}  // namespace

Batch synthetic_batch(const SampleSpec& spec, std::int64_t samples, std::uint64_t seed,
                      DataStream stream, std::int64_t index) {
  REPIPE_CHECK(samples > 0, "empty batch");
  at::Generator gen = generator(mix_seed(mix_seed(seed, static_cast<std::uint64_t>(stream)),
                                         static_cast<std::uint64_t>(index)));
  switch (spec.task) {
    case TaskKind::kClassification:
      return classification_batch(spec, samples, seed, gen);
    case TaskKind::kCausalLM:
      return causal_lm_batch(spec, samples, seed, gen);
    case TaskKind::kMaskedLM:
      REPIPE_CHECK(spec.max_predictions < spec.seq_len, "too many masked positions");
      REPIPE_CHECK(spec.vocab_size > kMaskToken,
                   "a vocabulary of " << spec.vocab_size << " has no [MASK] token " << kMaskToken);
      return masked_lm_batch(spec, samples, seed, gen);
  }
  REPIPE_CHECK(false, "unknown task kind");
}

}  // namespace repipe
