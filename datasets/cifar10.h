// datasets/cifar10.h: CIFAR-10's binary version, as it ships: DIR/cifar-10-batches-bin/
// data_batch_1.bin .. data_batch_5.bin (training) and test_batch.bin, each a run of records of
// 1 label byte (0..9) and 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, row-major
// 32 x 32), plus batches.meta.txt (the class names, one per line).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/datagen.h"
#include "datasets/record_dataset.h"

namespace repipe {

inline constexpr std::int64_t kCifar10ImageBytes = 3 * 32 * 32;
inline constexpr std::int64_t kCifar10RecordBytes = 1 + kCifar10ImageBytes;
inline constexpr int kCifar10Classes = 10;

struct Cifar10Record {
  std::uint8_t label = 0;
  std::array<std::uint8_t, kCifar10ImageBytes> pixels{};  // channel-major, then row-major
};

// The folder's files, training batches first: DIR/cifar-10-batches-bin/<name>.
std::vector<std::string> cifar10_train_files();
inline constexpr const char* kCifar10TestFile = "test_batch.bin";
inline constexpr const char* kCifar10Folder = "cifar-10-batches-bin";

// Reads and checks a whole file: a size that is not a whole number of records is a UsageError
// naming the file, its size and where the last record breaks off; a label above 9 names the
// file, the record's byte offset and the label.
std::vector<Cifar10Record> read_cifar10_file(const std::string& path);
// Writes `records` exactly as the format lays them out (the file is replaced whole).
void write_cifar10_file(const std::string& path, const std::vector<Cifar10Record>& records);

// The DatasetWriter of `repipe datagen --workload cifar10`: DIR/cifar-10-batches-bin with the
// training samples spread over the five training files as evenly as possible, a fifth as many
// in test_batch.bin (a byte target splits 5 : 1), and batches.meta.txt. The images are
// learnable: SyntheticDataset's class templates plus noise, quantised to bytes.
std::unique_ptr<DatasetWriter> make_cifar10_writer();

// Training (data_batch_1..5) and held-out (test_batch) samples of DIR, read on demand. The
// training stream visits every record once per epoch in an order drawn from (seed, epoch);
// the held-out stream reads the test file in order. Inputs {"x": float [N, 3, 32, 32], pixels
// scaled to [0, 1] and standardised with CIFAR-10's channel means and deviations}, targets
// {"labels": int64 [N]}.
class Cifar10Dataset : public RecordDataset {
 public:
  // Checks every file (sizes and labels); a model whose sample is not 3 x 32 x 32 images of 10
  // classes is a UsageError.
  Cifar10Dataset(const std::string& dir, const SampleSpec& spec, std::uint64_t seed);
  double bytes_per_sample() const override { return kCifar10RecordBytes; }

  std::int64_t train_samples() const { return static_cast<std::int64_t>(train_.size()); }
  std::int64_t test_samples() const { return static_cast<std::int64_t>(test_.size()); }

 protected:
  Batch read_records(DataStream stream, const std::vector<std::int64_t>& records,
                     std::int64_t first_sample, BatchPart part) const override;

 private:
  std::vector<Cifar10Record> train_, test_;  // the files are small: held in memory
};

}  // namespace repipe
