// datasets/dlrm_rows.h: DLRM's preprocessed binary rows (Criteo Terabyte, as MLPerf's DLRM
// reads them): each row is 40 little-endian int32, the click label (0 or 1), 13 dense counts
// (non-negative) and 26 categorical indices, index j below the range of category j. A dataset
// folder holds train/*.bin and test/*.bin, each file a whole number of 160-byte rows.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "datasets/datagen.h"
#include "datasets/record_dataset.h"
#include "datasets/shard_cache.h"

namespace repipe {

inline constexpr std::int64_t kDlrmBlockRows = 8192;
inline constexpr int kDlrmDense = 13;
inline constexpr int kDlrmCategorical = 26;
inline constexpr std::int64_t kDlrmRowBytes = 4 * (1 + kDlrmDense + kDlrmCategorical);

// The Terabyte dataset's category sizes (day_fea_count), as MLPerf's reference generator uses.
extern const std::array<std::int32_t, kDlrmCategorical> kDlrmCategoryRanges;

struct DlrmRow {
  std::int32_t label = 0;
  std::array<std::int32_t, kDlrmDense> dense{};
  std::array<std::int32_t, kDlrmCategorical> categorical{};
};

// Writes `rows` at `path` (replaced whole).
void write_dlrm_rows(const std::filesystem::path& path, const std::vector<DlrmRow>& rows);
// The rows of `path`: a size that is not a whole number of rows is a UsageError naming the
// file, its size and where the last row breaks off.
std::int64_t dlrm_row_count(const std::filesystem::path& path);
// A row file kept open (its size checked) for reads by pread, from any thread.
class DlrmRowFile {
 public:
  explicit DlrmRowFile(std::filesystem::path path);
  ~DlrmRowFile();
  DlrmRowFile(const DlrmRowFile&) = delete;
  DlrmRowFile& operator=(const DlrmRowFile&) = delete;

  std::int64_t rows() const { return rows_; }
  // Rows first .. first + count - 1, each checked: a bad field names the file, the byte
  // offset, the field ("categorical 7") and its range.
  std::vector<DlrmRow> read(std::int64_t first, std::int64_t count) const;

 private:
  std::filesystem::path path_;
  std::int64_t rows_ = 0;
  int fd_ = -1;
};

// The DatasetWriter of `repipe datagen --workload dlrm`: DIR/train/part-NNNNN-of-MMMMM.bin and
// DIR/test/..., at most 1,048,576 rows a file, drawn uniformly as MLPerf's generator does
// (labels 0 or 1, dense in [0, 2,557,264), categories in their ranges).
std::unique_ptr<DatasetWriter> make_dlrm_writer();

// `dlrm:DIR`: inputs {"x": float [N, 13], log(1 + dense) as DLRM feeds them, "categorical":
// int64 [N, 26]}, targets {"labels": int64 [N]}. No zoo model reads it: `repipe bench io` does.
// Files are read in blocks of kDlrmBlockRows consecutive rows: an epoch visits the blocks in a
// seeded order and each block's rows in a seeded order (EpochOrder with groups), so storage
// sees one sequential 1.25 MiB read per block instead of a 160-byte read per row.
class DlrmDataset : public RecordDataset {
 public:
  DlrmDataset(const std::string& dir, std::uint64_t seed);
  double bytes_per_sample() const override { return kDlrmRowBytes; }

 protected:
  Batch read_records(DataStream stream, const std::vector<std::int64_t>& records,
                     std::int64_t first_sample, BatchPart part) const override;

 private:
  struct Split {
    std::vector<std::unique_ptr<DlrmRowFile>> files;
    FileIndex index;
    std::vector<std::int64_t> blocks;  // rows of each block, file after file
  };
  Split train_, held_out_;
  ShardCache<std::vector<DlrmRow>> cache_{8};  // blocks keyed by (split, file, block)
};

}  // namespace repipe
