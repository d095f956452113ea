// datasets/synthetic.h: learnable synthetic data, drawn from the seed.
//
// Each task hides a fixed rule (drawn once from the seed) that a model can learn, so the
// loss falls: classification labels come from class templates added to noise, and token
// sequences follow a fixed random successor permutation. Samples are drawn in chunks of
// kSyntheticChunk, chunk c of a stream from (seed, stream, c) alone, so any range of samples is
// the same whoever reads it and however it is split into batches.
#pragma once

#include <cstdint>

#include "datasets/batch.h"
#include "datasets/dataset.h"
#include "datasets/sample_spec.h"

namespace repipe {

inline constexpr std::int64_t kSyntheticChunk = 16;

class SyntheticDataset : public Dataset {
 public:
  // Draws the task's hidden rule from `seed` once.
  SyntheticDataset(SampleSpec spec, std::uint64_t seed);

  // Both halves are drawn whatever `part` asks for (they come from one draw).
  Batch read(DataStream stream, std::int64_t first, std::int64_t count,
             BatchPart part) const override;

  const SampleSpec& spec() const { return spec_; }
  // Classification: the class templates [classes, *input_shape] that samples add noise to.
  const torch::Tensor& templates() const { return templates_; }

 private:
  Batch chunk(DataStream stream, std::int64_t index) const;
  Batch classification(std::int64_t n, at::Generator& gen) const;
  Batch causal_lm(std::int64_t n, at::Generator& gen) const;
  Batch masked_lm(std::int64_t n, at::Generator& gen) const;
  torch::Tensor token_chains(std::int64_t n, std::int64_t length, at::Generator& gen,
                             const torch::Tensor& restart, std::int64_t restart_at) const;

  SampleSpec spec_;
  std::uint64_t seed_;
  torch::Tensor templates_;  // classification: [classes, *input_shape], one per class
  torch::Tensor successor_;  // language models: [alphabet] int64, the next token of each token
};

// One batch of a freshly built SyntheticDataset (tests and one-off use; keep the dataset to draw
// many).
Batch synthetic_batch(const SampleSpec& spec, std::int64_t samples, std::uint64_t seed,
                      DataStream stream, std::int64_t index);

}  // namespace repipe
