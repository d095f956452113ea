// datasets/dlrm.h: DLRM's preprocessed binary rows, Criteo Terabyte as MLPerf's DLRM reads
// them. A row is 40 little-endian int32, 160 bytes: the click label (0 or 1), 13 dense integer
// features (non-negative counts) and 26 categorical indices, categorical j in
// [0, kDlrmCategoricalRanges[j]). A generated dataset is DIR/train/part-NNNNN.bin and
// DIR/test/part-NNNNN.bin, each file a whole number of rows.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "datasets/datagen.h"

namespace repipe {

inline constexpr int kDlrmDenseFeatures = 13;
inline constexpr int kDlrmCategoricalFeatures = 26;
inline constexpr int kDlrmFieldsPerRow = 1 + kDlrmDenseFeatures + kDlrmCategoricalFeatures;
inline constexpr std::int64_t kDlrmRowBytes = 4 * kDlrmFieldsPerRow;
// The generator draws dense features uniform in [0, kDlrmDenseLimit), as MLPerf's does.
inline constexpr std::int32_t kDlrmDenseLimit = 2557264;
// Rows per generated file at most, so that parallel writers have files to share.
inline constexpr std::int64_t kDlrmRowsPerFile = 1048576;

// The Terabyte dataset's category counts, the largest capped at 10^7 (indices past the cap are
// folded into it when the data is preprocessed).
inline constexpr std::array<std::int32_t, kDlrmCategoricalFeatures> kDlrmCategoricalRanges = {
    10000000, 38985,    17278,   7418,     20242,  3,     7120, 1543, 63,
    9999978,  2642264,  397262,  10,       2208,   11931, 155,  4,    976,
    14,       10000000, 9832963, 10000000, 573162, 12969, 108,  36};

struct DlrmRow {
  std::int32_t label = 0;
  std::array<std::int32_t, kDlrmDenseFeatures> dense{};
  std::array<std::int32_t, kDlrmCategoricalFeatures> categorical{};

  bool operator==(const DlrmRow&) const = default;
};

// The name of field `field` of a row (0-based, in file order): "label", "dense 0" .. "dense 12",
// "categorical 0" .. "categorical 25".
std::string dlrm_field_name(int field);

// A row's 160 bytes, and back (no checks).
void encode_dlrm_row(const DlrmRow& row, std::uint8_t* bytes);
DlrmRow decode_dlrm_row(const std::uint8_t* bytes);

// Checks the fields of the row at `row_index` of `path`: a label other than 0 or 1, a negative
// dense feature or a categorical index outside its range is a UsageError naming the file, the
// field's byte offset, the field and its allowed range.
void check_dlrm_row(const DlrmRow& row, const std::filesystem::path& path, std::int64_t row_index);

// Writes `rows` at `path`, replaced whole; a row that check_dlrm_row rejects is an
// InternalError.
void write_dlrm_rows(const std::filesystem::path& path, const std::vector<DlrmRow>& rows);

// The rows of `path`: a size that is not a whole number of rows is a UsageError naming the
// file, its size and where the last row breaks off.
std::int64_t dlrm_row_count(const std::filesystem::path& path);

// One file open for random access by row (pread: one DlrmRowFile serves many threads).
class DlrmRowFile {
 public:
  // Opens `path` and checks its size as dlrm_row_count does.
  explicit DlrmRowFile(const std::filesystem::path& path);
  ~DlrmRowFile();
  DlrmRowFile(const DlrmRowFile&) = delete;
  DlrmRowFile& operator=(const DlrmRowFile&) = delete;

  std::int64_t rows() const { return rows_; }
  const std::filesystem::path& path() const { return path_; }
  // Rows first_row .. first_row + count - 1, each checked by check_dlrm_row; rows beyond the
  // file are a UsageError naming the file and its row count.
  std::vector<DlrmRow> read(std::int64_t first_row, std::int64_t count) const;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::int64_t rows_ = 0;
};

// Opens `path`, reads rows first_row .. first_row + count - 1 and checks them (DlrmRowFile).
std::vector<DlrmRow> read_dlrm_rows(const std::filesystem::path& path, std::int64_t first_row,
                                    std::int64_t count);

// The DatasetWriter of `repipe datagen --workload dlrm`: DIR/train/part-NNNNN.bin and
// DIR/test/part-NNNNN.bin of at most `rows_per_file` rows each. --samples N writes N training
// rows and N / 5 test rows (N >= 5); a byte target writes as many whole rows as fit, 5/6 of
// them training, so the total is exact to one row. Fields are uniform in their ranges (labels
// 0 or 1, dense in [0, kDlrmDenseLimit)), drawn from a counter-based splitmix64 stream of the
// file's PlannedFile::seed alone.
std::unique_ptr<DatasetWriter> make_dlrm_writer(std::int64_t rows_per_file = kDlrmRowsPerFile);

}  // namespace repipe
