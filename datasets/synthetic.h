// datasets/synthetic.h: learnable synthetic data, drawn from the seed.
//
// Each task hides a fixed rule (drawn once from the seed) that a model can learn, so the
// loss falls: classification labels come from class templates added to noise, and token
// sequences follow a fixed random successor permutation. Batch `index` of a stream is a pure
// function of (seed, stream, index): any rank can draw the same batch independently.
#pragma once

#include <cstdint>

#include "datasets/batch.h"
#include "datasets/sample_spec.h"

namespace repipe {

enum class DataStream : std::uint64_t { kTrain = 1, kHeldOut = 2 };

Batch synthetic_batch(const SampleSpec& spec, std::int64_t samples, std::uint64_t seed,
                      DataStream stream, std::int64_t index);

}  // namespace repipe
