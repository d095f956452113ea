// datasets/dataset.h: where a trainer's batches come from. Batch `index` of a stream is a pure
// function of (dataset, seed, stream, index), so the first stage (inputs) and the last stage
// (labels) draw the same samples independently, and a resumed run the same batches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "datasets/batch.h"
#include "datasets/sample_spec.h"

namespace repipe {

enum class DataStream : std::uint64_t { kTrain = 1, kHeldOut = 2 };

class Dataset {
 public:
  virtual ~Dataset() = default;
  // Batch `index` of `stream`: `samples` samples.
  virtual Batch batch(DataStream stream, std::int64_t index, std::int64_t samples) const = 0;
};

// `name`: "synthetic" (drawn from the seed) or "cifar10:DIR" (the binary CIFAR-10 under
// DIR/cifar-10-batches-bin). A dataset that does not fit the model's `spec`, or a missing or
// malformed file, is a UsageError.
std::unique_ptr<Dataset> open_dataset(const std::string& name, const SampleSpec& spec,
                                      std::uint64_t seed);

}  // namespace repipe
