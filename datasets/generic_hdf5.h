// datasets/generic_hdf5.h: the simplest HDF5 dataset a user can write with h5py: files holding
// x (float32 [N, ...], one sample per row) and y (integer class labels [N]).
//
// A dataset folder holds train/*.h5 and test/*.h5 (or only *.h5, then held out from the same
// files): `hdf5:DIR` trains any classification model whose sample shape is x's row shape.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "datasets/datagen.h"
#include "datasets/hdf5_file.h"
#include "datasets/record_dataset.h"
#include "datasets/shard_cache.h"

namespace repipe {

// Writes x [N, *shape] and y [N] at `path` (through a temporary file renamed into place).
void write_generic_hdf5(const std::filesystem::path& path, const std::vector<std::int64_t>& shape,
                        const std::vector<float>& x, const std::vector<std::int64_t>& y);

// The DatasetWriter of `repipe datagen --workload generic`: DIR/train/part-NNNNN-of-MMMMM.h5
// and DIR/test/..., samples of `shape` in `classes` classes, files of at most 64 MiB. The
// samples are learnable (SyntheticDataset's class templates plus noise).
std::unique_ptr<DatasetWriter> make_generic_writer(std::vector<std::int64_t> shape,
                                                   std::int64_t classes);

class GenericHdf5Dataset : public RecordDataset {
 public:
  // Checks every file's x and y (types, shapes, row counts); a model whose sample is not x's
  // row shape is a UsageError. Labels are checked as rows are read.
  GenericHdf5Dataset(const std::string& dir, const SampleSpec& spec, std::uint64_t seed);
  double bytes_per_sample() const override { return static_cast<double>(row_bytes_); }

 protected:
  Batch read_records(DataStream stream, const std::vector<std::int64_t>& records,
                     std::int64_t first_sample, BatchPart part) const override;

 private:
  struct Split {
    std::vector<std::unique_ptr<Hdf5ArrayReader>> files;
    FileIndex index;
  };
  Split open_split(const std::vector<std::filesystem::path>& files) const;

  SampleSpec spec_;
  std::int64_t sample_values_ = 1;  // floats per sample
  std::int64_t row_bytes_ = 0;
  Split train_, held_out_;
  struct Shard {
    std::vector<float> x;
    std::vector<std::int64_t> y;
  };
  ShardCache<Shard> cache_{3};  // whole files; held-out files keyed after the training ones
};

}  // namespace repipe
