// datasets/dlrm.cc: DLRM rows encoded, checked, read by pread and generated at disk speed.
#include "datasets/dlrm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/seed.h"
#include "common/text_format.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// Rows are stored as they lie in memory: the host must be little-endian like the files.
static_assert(std::endian::native == std::endian::little, "DLRM rows assume a little-endian host");

constexpr int kFirstDense = 1;
constexpr int kFirstCategorical = 1 + kDlrmDenseFeatures;
constexpr std::int64_t kHeldOutShare = 5;  // a fifth as many test rows as training rows
constexpr std::int64_t kChunkRows = (std::int64_t{1} << 20) / kDlrmRowBytes;  // ~1 MiB a write

std::int32_t load_int32(const std::uint8_t* bytes) {
  std::int32_t value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

void store_int32(std::int32_t value, std::uint8_t* bytes) {
  std::memcpy(bytes, &value, sizeof value);
}

// Every field's draw bound, in file order: a field is (32 random bits * bound) >> 32, uniform
// in [0, bound) up to a bias below bound / 2^32 (irrelevant for synthetic rows).
constexpr std::array<std::uint64_t, kDlrmFieldsPerRow> field_bounds() {
  std::array<std::uint64_t, kDlrmFieldsPerRow> bounds{};
  bounds[0] = 2;
  for (int d = 0; d < kDlrmDenseFeatures; ++d) bounds[kFirstDense + d] = kDlrmDenseLimit;
  for (int c = 0; c < kDlrmCategoricalFeatures; ++c) {
    bounds[kFirstCategorical + c] = static_cast<std::uint64_t>(kDlrmCategoricalRanges[c]);
  }
  return bounds;
}

// Rows first_row .. first_row + count - 1 of the stream of `seed`, encoded into `out`. Row r's
// fields come from splitmix64 outputs mix_seed(seed, 20 r) .. mix_seed(seed, 20 r + 19), two
// fields from each: any row is a function of (seed, r) alone, however the file is chunked.
void generate_rows(std::uint64_t seed, std::int64_t first_row, std::int64_t count,
                   std::uint8_t* out) {
  static constexpr std::array<std::uint64_t, kDlrmFieldsPerRow> kBounds = field_bounds();
  constexpr int kDrawsPerRow = kDlrmFieldsPerRow / 2;
  for (std::int64_t r = 0; r < count; ++r) {
    const auto counter = static_cast<std::uint64_t>(first_row + r) * kDrawsPerRow;
    std::uint32_t fields[kDlrmFieldsPerRow];
    for (int k = 0; k < kDrawsPerRow; ++k) {
      const std::uint64_t bits = mix_seed(seed, counter + static_cast<std::uint64_t>(k));
      fields[2 * k] = static_cast<std::uint32_t>(((bits & 0xffffffffu) * kBounds[2 * k]) >> 32);
      fields[2 * k + 1] = static_cast<std::uint32_t>(((bits >> 32) * kBounds[2 * k + 1]) >> 32);
    }
    std::memcpy(out + r * kDlrmRowBytes, fields, kDlrmRowBytes);
  }
}

[[noreturn]] void throw_errno(const fs::path& path, const std::string& what) {
  throw UsageError(path.string() + ": " + what + ": " + std::strerror(errno));
}

class DlrmWriter : public DatasetWriter {
 public:
  explicit DlrmWriter(std::int64_t rows_per_file) : rows_per_file_(rows_per_file) {
    REPIPE_CHECK(rows_per_file > 0, "DLRM rows per file " << rows_per_file);
  }

  std::vector<PlannedFile> plan(const DatagenTarget& target, std::uint64_t seed) const override {
    std::int64_t train = target.samples, test = target.samples / kHeldOutShare;
    if (target.bytes > 0) {
      const std::int64_t rows = target.bytes / kDlrmRowBytes;
      train = rows * kHeldOutShare / (kHeldOutShare + 1);
      test = rows - train;
    }
    if (train < 1 || test < 1) {
      throw UsageError("dlrm: needs at least 1 training and 1 test row (--size " +
                       std::to_string(2 * kDlrmRowBytes) + " bytes, or --samples " +
                       std::to_string(kHeldOutShare) + "), got " + std::to_string(train) + " and " +
                       std::to_string(test));
    }
    std::vector<PlannedFile> files;
    for (const auto& [folder, rows] : {std::pair{"train", train}, std::pair{"test", test}}) {
      for (std::int64_t first = 0, part = 0; first < rows; first += rows_per_file_, ++part) {
        char name[64];
        std::snprintf(name, sizeof name, "%s/part-%05lld.bin", folder,
                      static_cast<long long>(part));
        const std::int64_t n = std::min(rows_per_file_, rows - first);
        // The file's own seed: its bytes depend on nothing else.
        files.push_back({name, n, first, n * kDlrmRowBytes, mix_seed(seed, hash_name(name))});
      }
    }
    return files;
  }

  void write(const PlannedFile& file, const fs::path& path,
             const WroteBytes& wrote) const override {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw UsageError(path.string() + ": cannot write (check the output folder)");
    std::vector<std::uint8_t> chunk(static_cast<std::size_t>(kChunkRows * kDlrmRowBytes));
    for (std::int64_t done = 0; done < file.samples; done += kChunkRows) {
      const std::int64_t n = std::min(kChunkRows, file.samples - done);
      generate_rows(file.seed, done, n, chunk.data());
      out.write(reinterpret_cast<const char*>(chunk.data()),
                static_cast<std::streamsize>(n * kDlrmRowBytes));
      if (!out) throw UsageError(path.string() + ": write failed (disk full?)");
      wrote(n * kDlrmRowBytes);
    }
    out.close();
    if (!out) throw UsageError(path.string() + ": write failed (disk full?)");
  }

 private:
  std::int64_t rows_per_file_;
};

}  // namespace

std::string dlrm_field_name(int field) {
  REPIPE_CHECK(field >= 0 && field < kDlrmFieldsPerRow, "DLRM field " << field);
  if (field == 0) return "label";
  if (field < kFirstCategorical) return "dense " + std::to_string(field - kFirstDense);
  return "categorical " + std::to_string(field - kFirstCategorical);
}

void encode_dlrm_row(const DlrmRow& row, std::uint8_t* bytes) {
  store_int32(row.label, bytes);
  for (int d = 0; d < kDlrmDenseFeatures; ++d)
    store_int32(row.dense[d], bytes + 4 * (kFirstDense + d));
  for (int c = 0; c < kDlrmCategoricalFeatures; ++c) {
    store_int32(row.categorical[c], bytes + 4 * (kFirstCategorical + c));
  }
}

DlrmRow decode_dlrm_row(const std::uint8_t* bytes) {
  DlrmRow row;
  row.label = load_int32(bytes);
  for (int d = 0; d < kDlrmDenseFeatures; ++d)
    row.dense[d] = load_int32(bytes + 4 * (kFirstDense + d));
  for (int c = 0; c < kDlrmCategoricalFeatures; ++c) {
    row.categorical[c] = load_int32(bytes + 4 * (kFirstCategorical + c));
  }
  return row;
}

void check_dlrm_row(const DlrmRow& row, const fs::path& path, std::int64_t row_index) {
  auto fail = [&](int field, std::int32_t value, const std::string& allowed) {
    throw UsageError(path.string() + ": offset " +
                     group_thousands(row_index * kDlrmRowBytes + 4 * field) + " (row " +
                     group_thousands(row_index) + ", " + dlrm_field_name(field) + "): got " +
                     std::to_string(value) + ", expected " + allowed);
  };
  if (row.label != 0 && row.label != 1) fail(0, row.label, "0 or 1");
  for (int d = 0; d < kDlrmDenseFeatures; ++d) {
    if (row.dense[d] < 0) fail(kFirstDense + d, row.dense[d], "a non-negative count");
  }
  for (int c = 0; c < kDlrmCategoricalFeatures; ++c) {
    if (row.categorical[c] < 0 || row.categorical[c] >= kDlrmCategoricalRanges[c]) {
      fail(kFirstCategorical + c, row.categorical[c],
           "0.." + std::to_string(kDlrmCategoricalRanges[c] - 1) + " (range " +
               group_thousands(kDlrmCategoricalRanges[c]) + ")");
    }
  }
}

void write_dlrm_rows(const fs::path& path, const std::vector<DlrmRow>& rows) {
  std::string bytes(rows.size() * kDlrmRowBytes, '\0');
  for (std::size_t r = 0; r < rows.size(); ++r) {
    try {
      check_dlrm_row(rows[r], path, static_cast<std::int64_t>(r));
    } catch (const UsageError& e) {
      REPIPE_CHECK(false, "writing an invalid DLRM row: " << e.what());
    }
    encode_dlrm_row(rows[r], reinterpret_cast<std::uint8_t*>(bytes.data()) + r * kDlrmRowBytes);
  }
  write_file_atomically(path, bytes);
}

std::int64_t dlrm_row_count(const fs::path& path) {
  std::error_code error;
  const auto size = static_cast<std::int64_t>(fs::file_size(path, error));
  if (error) throw UsageError(path.string() + ": no such DLRM row file (" + error.message() + ")");
  if (size % kDlrmRowBytes != 0) {
    const std::int64_t whole = size / kDlrmRowBytes;
    throw UsageError(path.string() + ": " + group_thousands(size) +
                     " bytes is not a whole number of " + std::to_string(kDlrmRowBytes) +
                     "-byte DLRM rows (row " + group_thousands(whole) + " at offset " +
                     group_thousands(whole * kDlrmRowBytes) + " has " +
                     std::to_string(size - whole * kDlrmRowBytes) + " bytes)");
  }
  return size / kDlrmRowBytes;
}

DlrmRowFile::DlrmRowFile(const fs::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw_errno(path, "cannot open DLRM row file");
  try {
    rows_ = dlrm_row_count(path);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

DlrmRowFile::~DlrmRowFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<DlrmRow> DlrmRowFile::read(std::int64_t first_row, std::int64_t count) const {
  if (first_row < 0 || count < 0 || first_row > rows_ - count) {
    throw UsageError(path_.string() + ": rows " + group_thousands(first_row) + " to " +
                     group_thousands(first_row + count - 1) + " asked, the file has " +
                     group_thousands(rows_) + " rows (0 to " + group_thousands(rows_ - 1) + ")");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(count * kDlrmRowBytes));
  const std::int64_t start = first_row * kDlrmRowBytes;
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t got = ::pread(fd_, bytes.data() + done, bytes.size() - done,
                                static_cast<off_t>(start + static_cast<std::int64_t>(done)));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_errno(path_, "read failed at offset " + group_thousands(start + done));
    if (got == 0) {
      throw UsageError(path_.string() + ": offset " + group_thousands(start + done) +
                       ": the file ended early (did it change?), expected " +
                       group_thousands(static_cast<std::int64_t>(bytes.size() - done)) +
                       " more bytes");
    }
    done += static_cast<std::size_t>(got);
  }
  std::vector<DlrmRow> rows(static_cast<std::size_t>(count));
  for (std::int64_t r = 0; r < count; ++r) {
    rows[r] = decode_dlrm_row(bytes.data() + r * kDlrmRowBytes);
    check_dlrm_row(rows[r], path_, first_row + r);
  }
  return rows;
}

std::vector<DlrmRow> read_dlrm_rows(const fs::path& path, std::int64_t first_row,
                                    std::int64_t count) {
  return DlrmRowFile(path).read(first_row, count);
}

std::unique_ptr<DatasetWriter> make_dlrm_writer(std::int64_t rows_per_file) {
  return std::make_unique<DlrmWriter>(rows_per_file);
}

}  // namespace repipe
