// datasets/dataset.h: where a trainer's samples come from.
//
// A dataset is a stream of samples: sample k of a stream is a pure function of (dataset, seed,
// stream, k). Any rank can read any range of it independently, so the first stage (inputs)
// and the last stage (labels) read the same samples, data-parallel replicas read disjoint
// micro-batches of one step, and a resumed run reads the same samples again.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/batch.h"
#include "datasets/sample_spec.h"

namespace repipe {

enum class DataStream : std::uint64_t { kTrain = 1, kHeldOut = 2 };

// Which half of a Batch to fill: the first stage needs the inputs, the last the targets.
enum class BatchPart { kInputs = 1, kTargets = 2, kBoth = 3 };

inline bool wants_inputs(BatchPart part) {
  return part != BatchPart::kTargets;
}
inline bool wants_targets(BatchPart part) {
  return part != BatchPart::kInputs;
}

class Dataset {
 public:
  virtual ~Dataset() = default;
  // Samples first .. first + count - 1 of `stream`, stacked. Safe to call from several threads
  // at once (the loader's readers do).
  virtual Batch read(DataStream stream, std::int64_t first, std::int64_t count,
                     BatchPart part) const = 0;
  // Bytes read from storage per sample, on average (0 for generated data); for I/O rates.
  virtual double bytes_per_sample() const { return 0; }

  // Batch `index` of `samples` samples: samples index * samples onwards, both halves.
  Batch batch(DataStream stream, std::int64_t index, std::int64_t samples) const {
    return read(stream, index * samples, samples, BatchPart::kBoth);
  }
};

// `name`: "synthetic" (drawn from the seed), "cifar10:DIR" (the binary CIFAR-10 under
// DIR/cifar-10-batches-bin), "bert:DIR" (NVIDIA's BERT pre-training HDF5 shards in
// DIR/training and DIR/test), "hdf5:DIR" (generic (x, y) HDF5 files in DIR/train and
// DIR/test), "dlrm:DIR" (DLRM's binary rows) or "unet3d:DIR" (KiTS19 .npy cases; these two for
// `repipe bench io`). A dataset that does not fit the model's `spec`, or a missing or malformed
// file, is a UsageError.
std::unique_ptr<Dataset> open_dataset(const std::string& name, const SampleSpec& spec,
                                      std::uint64_t seed);

// The sample a stored dataset holds, read from its files (for reading it without a model, as
// `repipe bench io` does): CIFAR-10's images, the BERT shards' L and P over BERT's vocabulary,
// the generic files' x rows. "synthetic" has none: a UsageError.
SampleSpec stored_sample_spec(const std::string& name);

// The forms `--dataset` takes, for help texts and messages.
std::string dataset_forms();

}  // namespace repipe
