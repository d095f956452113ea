#include "datasets/synthetic.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>

#include "common/error.h"
#include "common/seed.h"

namespace repipe {
namespace {

constexpr std::uint64_t kRuleStream = 0x5eed'0001;  // the hidden rule of a task
constexpr std::int64_t kMaskToken = 103;            // [MASK] in BERT's vocabulary
constexpr std::int64_t kMaxAlphabet = 1000;         // tokens the sequences use
constexpr double kSuccessorProbability = 0.9;       // else the next token is random
constexpr double kTemplateNorm = 4.0;               // vectors: signal-to-noise of a template
constexpr double kImageTemplateAmplitude = 0.1;     // images: template scale per pixel

at::Generator generator(std::uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

std::vector<std::int64_t> with_batch(std::int64_t n, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> full{n};
  full.insert(full.end(), shape.begin(), shape.end());
  return full;
}

// Vectors: templates of norm ~4 against unit noise per value, learnable in tens of steps
// whatever the input size, but not at a glance.
torch::Tensor vector_templates(const SampleSpec& spec, at::Generator& rule) {
  std::int64_t values = 1;
  for (std::int64_t d : spec.input_shape) values *= d;
  return torch::randn(with_batch(spec.num_classes, spec.input_shape), rule) *
         (kTemplateNorm / std::sqrt(static_cast<double>(values)));
}

// Images [C, H, W]: smooth patterns (a 4x4 grid of colours, upsampled), faint against unit
// pixel noise; convolutions and pooling pick them up as they would real shapes.
torch::Tensor image_templates(const SampleSpec& spec, at::Generator& rule) {
  std::int64_t channels = spec.input_shape[0];
  std::vector<std::int64_t> side{spec.input_shape[1], spec.input_shape[2]};
  torch::Tensor coarse = torch::randn({spec.num_classes, channels, 4, 4}, rule);
  return torch::upsample_bilinear2d(coarse, side, /*align_corners=*/false) *
         kImageTemplateAmplitude;
}

}  // namespace

SyntheticDataset::SyntheticDataset(SampleSpec spec, std::uint64_t seed)
    : spec_(std::move(spec)), seed_(seed) {
  at::Generator rule = generator(mix_seed(seed, kRuleStream));
  if (spec_.task == TaskKind::kClassification) {
    templates_ = spec_.input_shape.size() == 3 ? image_templates(spec_, rule)
                                               : vector_templates(spec_, rule);
  } else {
    REPIPE_CHECK(spec_.vocab_size > kMaskToken || spec_.task != TaskKind::kMaskedLM,
                 "a vocabulary of " << spec_.vocab_size << " has no [MASK] token " << kMaskToken);
    REPIPE_CHECK(spec_.task != TaskKind::kMaskedLM || spec_.max_predictions < spec_.seq_len,
                 "too many masked positions");
    successor_ = torch::randperm(std::min(spec_.vocab_size, kMaxAlphabet), rule, torch::kLong);
  }
}

Batch SyntheticDataset::chunk(DataStream stream, std::int64_t index) const {
  at::Generator gen = generator(mix_seed(mix_seed(seed_, static_cast<std::uint64_t>(stream)),
                                         static_cast<std::uint64_t>(index)));
  switch (spec_.task) {
    case TaskKind::kClassification:
      return classification(kSyntheticChunk, gen);
    case TaskKind::kCausalLM:
      return causal_lm(kSyntheticChunk, gen);
    case TaskKind::kMaskedLM:
      return masked_lm(kSyntheticChunk, gen);
  }
  REPIPE_CHECK(false, "unknown task kind");
}

// The chunks that cover the range, concatenated and cut to it.
Batch SyntheticDataset::read(DataStream stream, std::int64_t first, std::int64_t count,
                             BatchPart /*part*/) const {
  REPIPE_CHECK(first >= 0 && count > 0, "samples " << first << " + " << count);
  const std::int64_t first_chunk = first / kSyntheticChunk;
  const std::int64_t last_chunk = (first + count - 1) / kSyntheticChunk;
  std::vector<Batch> chunks;
  for (std::int64_t c = first_chunk; c <= last_chunk; ++c) chunks.push_back(chunk(stream, c));
  const std::int64_t offset = first - first_chunk * kSyntheticChunk;
  auto cut = [&](Bundle Batch::*half) {
    Bundle out;
    for (const auto& [name, tensor] : chunks[0].*half) {
      std::vector<torch::Tensor> parts;
      for (const Batch& b : chunks) parts.push_back((b.*half).at(name));
      torch::Tensor all = parts.size() == 1 ? parts[0] : torch::cat(parts);
      out[name] = all.narrow(0, offset, count).contiguous();
    }
    return out;
  };
  return {cut(&Batch::inputs), cut(&Batch::targets)};
}

// x = noise + template[label].
Batch SyntheticDataset::classification(std::int64_t n, at::Generator& gen) const {
  torch::Tensor labels = torch::randint(spec_.num_classes, {n}, gen, torch::kLong);  // [N]
  torch::Tensor x = torch::randn(with_batch(n, spec_.input_shape), gen) +
                    templates_.index_select(0, labels);  // [N, *input_shape]
  return {{{"x", x}}, {{"labels", labels}}};
}

// Each next token is successor[token] with probability 0.9, else random. `restart` (bool [N])
// starts the chain afresh at column `restart_at` (BERT's next-sentence negatives).
torch::Tensor SyntheticDataset::token_chains(std::int64_t n, std::int64_t length,
                                             at::Generator& gen, const torch::Tensor& restart,
                                             std::int64_t restart_at) const {
  torch::Tensor random_tokens = torch::randint(successor_.size(0), {n, length}, gen, torch::kLong);
  torch::Tensor follow = torch::rand({n, length}, gen) < kSuccessorProbability;
  std::vector<torch::Tensor> columns{random_tokens.select(1, 0)};
  for (std::int64_t i = 1; i < length; ++i) {
    torch::Tensor next = successor_.index_select(0, columns.back());
    torch::Tensor keep = follow.select(1, i);
    if (i == restart_at && restart.defined()) keep = keep & restart.logical_not();
    columns.push_back(torch::where(keep, next, random_tokens.select(1, i)));
  }
  return torch::stack(columns, 1);  // [N, length]
}

Batch SyntheticDataset::causal_lm(std::int64_t n, at::Generator& gen) const {
  std::int64_t l = spec_.seq_len;
  torch::Tensor chain = token_chains(n, l + 1, gen, {}, -1);  // [N, L + 1]
  return {{{"input_ids", chain.narrow(1, 0, l).contiguous()}},
          {{"labels", chain.narrow(1, 1, l).contiguous()}}};
}

// Two segments; negatives (nsp_labels = 1) restart the chain at segment B. P distinct masked
// positions per row (never position 0) hold [MASK]; mlm_ids are the hidden tokens.
Batch SyntheticDataset::masked_lm(std::int64_t n, at::Generator& gen) const {
  std::int64_t l = spec_.seq_len;
  std::int64_t p = spec_.max_predictions;
  std::int64_t half = l / 2;
  torch::Tensor nsp = torch::randint(2, {n}, gen, torch::kLong);              // [N]
  torch::Tensor chain = token_chains(n, l, gen, nsp.to(torch::kBool), half);  // [N, L]
  torch::Tensor order = torch::rand({n, l - 1}, gen).argsort(/*dim=*/1, /*descending=*/false);
  torch::Tensor positions = std::get<0>((order.narrow(1, 0, p) + 1).sort(1));  // [N, P]
  torch::Tensor mlm_ids = chain.gather(1, positions);                          // [N, P]
  torch::Tensor input_ids = chain.scatter(1, positions, kMaskToken);           // [N, L]
  torch::Tensor token_types =
      (torch::arange(l, torch::kLong) >= half).to(torch::kLong).expand({n, l});  // [N, L]
  return {{{"input_ids", input_ids},
           {"token_type_ids", token_types.contiguous()},
           {"attention_mask", torch::ones({n, l}, torch::kLong)},
           {"mlm_positions", positions}},
          {{"mlm_ids", mlm_ids}, {"nsp_labels", nsp}}};
}

Batch synthetic_batch(const SampleSpec& spec, std::int64_t samples, std::uint64_t seed,
                      DataStream stream, std::int64_t index) {
  return SyntheticDataset(spec, seed).batch(stream, index, samples);
}

}  // namespace repipe
