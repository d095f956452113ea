// datasets/record_dataset.h: a dataset of stored records (files on disk).
//
// The training stream visits its records in a fresh seeded order every epoch (EpochOrder);
// the held-out stream reads its records in file order, over and over. A concrete format only
// says how many records each stream has and how to turn chosen records into a batch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/epoch_order.h"

namespace repipe {

class RecordDataset : public Dataset {
 public:
  Batch read(DataStream stream, std::int64_t first, std::int64_t count, BatchPart part) const final;

 protected:
  // Call once the subclass knows its record counts (both must be positive). `train_groups`:
  // the training records of each shard, for a shard-by-shard order (EpochOrder).
  void set_records(std::int64_t train, std::int64_t held_out, std::uint64_t seed,
                   std::vector<std::int64_t> train_groups = {});
  // Records `records` (indices within `stream`'s records) as one batch, in that order:
  // samples first_sample .. first_sample + records.size() - 1 of the stream, for a draw that
  // must depend on the sample, not on its slot in the batch.
  virtual Batch read_records(DataStream stream, const std::vector<std::int64_t>& records,
                             std::int64_t first_sample, BatchPart part) const = 0;

  std::int64_t train_records() const { return train_order_->records(); }
  std::int64_t held_out_records() const { return held_out_; }

 private:
  std::unique_ptr<EpochOrder> train_order_;
  std::int64_t held_out_ = 0;
};

// A split's records spread over files in order: which file holds record r, at which row.
class FileIndex {
 public:
  void add_file(std::int64_t records) {
    first_.push_back(records_);
    records_ += records;
  }
  std::int64_t records() const { return records_; }
  // The records of each file, in order.
  std::vector<std::int64_t> sizes() const;
  // (file, row in it) of `record` (0 <= record < records()).
  std::pair<std::size_t, std::int64_t> locate(std::int64_t record) const;

 private:
  std::vector<std::int64_t> first_;  // each file's first record
  std::int64_t records_ = 0;
};

// The regular files of `folder` with one of `extensions` (".hdf5"), sorted by name; none when
// the folder is absent.
std::vector<std::filesystem::path> files_with_extensions(
    const std::filesystem::path& folder, const std::vector<std::string>& extensions);

}  // namespace repipe
