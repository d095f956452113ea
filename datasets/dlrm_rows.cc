// datasets/dlrm_rows.cc: DLRM rows, checked field by field, read by pread, generated fast.
#include "datasets/dlrm_rows.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>

#include <fcntl.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/seed.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kRowsPerFile = 1 << 20;
constexpr std::int32_t kDenseRange = 2557264;  // MLPerf's generator draws dense in [0, this)

// Serialises rows as little-endian int32 (x86 and ARM Linux are little-endian, as the format).
void append_rows(std::string& out, const std::vector<DlrmRow>& rows) {
  for (const DlrmRow& r : rows) {
    out.append(reinterpret_cast<const char*>(&r.label), 4);
    out.append(reinterpret_cast<const char*>(r.dense.data()), 4 * kDlrmDense);
    out.append(reinterpret_cast<const char*>(r.categorical.data()), 4 * kDlrmCategorical);
  }
}

void check_row(const fs::path& path, std::int64_t row_index, const DlrmRow& r) {
  auto bad = [&](int field, const std::string& name, std::int32_t value, const std::string& range) {
    throw UsageError(path.string() + ": offset " +
                     std::to_string(row_index * kDlrmRowBytes + 4 * field) + " (row " +
                     std::to_string(row_index) + ", " + name + "): " + std::to_string(value) +
                     ", expected " + range);
  };
  if (r.label != 0 && r.label != 1) bad(0, "label", r.label, "0 or 1");
  for (int j = 0; j < kDlrmDense; ++j) {
    if (r.dense[j] < 0) bad(1 + j, "dense " + std::to_string(j), r.dense[j], ">= 0");
  }
  for (int j = 0; j < kDlrmCategorical; ++j) {
    if (r.categorical[j] < 0 || r.categorical[j] >= kDlrmCategoryRanges[j]) {
      bad(1 + kDlrmDense + j, "categorical " + std::to_string(j), r.categorical[j],
          "0.." + std::to_string(kDlrmCategoryRanges[j] - 1));
    }
  }
}

// Row i of a split drawn from (seed, split, i) alone.
DlrmRow generated_row(std::uint64_t seed, std::int64_t i) {
  std::uint64_t state = mix_seed(seed, static_cast<std::uint64_t>(i));
  auto below = [&](std::int64_t n) {
    state = mix_seed(state, 1);
    return static_cast<std::int32_t>(scale_below(state, n));
  };
  DlrmRow r;
  r.label = below(2);
  for (auto& d : r.dense) d = below(kDenseRange);
  for (int j = 0; j < kDlrmCategorical; ++j) r.categorical[j] = below(kDlrmCategoryRanges[j]);
  return r;
}

class DlrmWriter : public DatasetWriter {
 public:
  std::vector<PlannedFile> plan(const DatagenTarget& target, std::uint64_t seed) const override {
    return plan_record_files(target, {kDlrmRowBytes, 0, kRowsPerFile, "train", "test", ".bin"},
                             seed, "dlrm");
  }

  void write(const PlannedFile& file, const fs::path& path,
             const WroteBytes& wrote) const override {
    const std::uint64_t split = mix_seed(file.seed, file.name.starts_with("test/") ? 2 : 1);
    std::ofstream out(path, std::ios::binary);
    constexpr std::int64_t kChunk = 8192;  // rows per write: 1.3 MB
    std::vector<DlrmRow> rows;
    std::string bytes;
    for (std::int64_t done = 0; done < file.samples; done += kChunk) {
      const std::int64_t n = std::min(kChunk, file.samples - done);
      rows.clear();
      for (std::int64_t i = 0; i < n; ++i)
        rows.push_back(generated_row(split, file.first_sample + done + i));
      bytes.clear();
      append_rows(bytes, rows);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!out) throw UsageError(path.string() + ": write failed (disk full?)");
      wrote(static_cast<std::int64_t>(bytes.size()));
    }
  }
};

}  // namespace

const std::array<std::int32_t, kDlrmCategorical> kDlrmCategoryRanges = {
    10000000, 38985,    17278,   7418,     20242,  3,     7120, 1543, 63,
    9999978,  2642264,  397262,  10,       2208,   11931, 155,  4,    976,
    14,       10000000, 9832963, 10000000, 573162, 12969, 108,  36};

void write_dlrm_rows(const fs::path& path, const std::vector<DlrmRow>& rows) {
  std::string bytes;
  append_rows(bytes, rows);
  write_file_atomically(path, bytes);
}

std::int64_t dlrm_row_count(const fs::path& path) {
  if (!fs::is_regular_file(path)) throw UsageError(path.string() + ": no such DLRM row file");
  const auto size = static_cast<std::int64_t>(fs::file_size(path));
  if (size == 0 || size % kDlrmRowBytes != 0) {
    const std::int64_t whole = size / kDlrmRowBytes;
    throw UsageError(path.string() + ": " + std::to_string(size) +
                     " bytes is not a whole number of 160-byte DLRM rows (row " +
                     std::to_string(whole) + " at offset " + std::to_string(whole * kDlrmRowBytes) +
                     " has " + std::to_string(size - whole * kDlrmRowBytes) + " bytes)");
  }
  return size / kDlrmRowBytes;
}

DlrmRowFile::DlrmRowFile(fs::path path) : path_(std::move(path)), rows_(dlrm_row_count(path_)) {
  fd_ = ::open(path_.c_str(), O_RDONLY);
  if (fd_ < 0) throw UsageError(path_.string() + ": cannot open the DLRM row file");
}

DlrmRowFile::~DlrmRowFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<DlrmRow> DlrmRowFile::read(std::int64_t first, std::int64_t count) const {
  std::vector<std::int32_t> words(static_cast<std::size_t>(count) * (kDlrmRowBytes / 4));
  const auto want = static_cast<ssize_t>(count * kDlrmRowBytes);
  if (::pread(fd_, words.data(), static_cast<std::size_t>(want), first * kDlrmRowBytes) != want) {
    throw UsageError(path_.string() + ": offset " + std::to_string(first * kDlrmRowBytes) +
                     ": rows " + std::to_string(first) + ".." + std::to_string(first + count - 1) +
                     " are cut off (truncated?)");
  }
  std::vector<DlrmRow> rows(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int32_t* w = &words[static_cast<std::size_t>(i * (kDlrmRowBytes / 4))];
    DlrmRow& r = rows[static_cast<std::size_t>(i)];
    r.label = w[0];
    std::copy(w + 1, w + 1 + kDlrmDense, r.dense.begin());
    std::copy(w + 1 + kDlrmDense, w + 1 + kDlrmDense + kDlrmCategorical, r.categorical.begin());
    check_row(path_, first + i, r);
  }
  return rows;
}

std::unique_ptr<DatasetWriter> make_dlrm_writer() {
  return std::make_unique<DlrmWriter>();
}

DlrmDataset::DlrmDataset(const std::string& dir, std::uint64_t seed) {
  auto open = [&](const std::string& folder) {
    Split split;
    for (const fs::path& f : files_with_extensions(fs::path(dir) / folder, {".bin"})) {
      split.files.push_back(std::make_unique<DlrmRowFile>(f));
      const std::int64_t rows = split.files.back()->rows();
      split.index.add_file(rows);
      for (std::int64_t first = 0; first < rows; first += kDlrmBlockRows)
        split.blocks.push_back(std::min(kDlrmBlockRows, rows - first));
    }
    return split;
  };
  train_ = open("train");
  held_out_ = open("test");
  if (train_.files.empty()) {
    throw UsageError("dataset dlrm:" + dir + ": no .bin files in " + dir +
                     "/train (`repipe datagen --workload dlrm` writes some)");
  }
  if (held_out_.files.empty()) held_out_ = open("train");
  set_records(train_.index.records(), held_out_.index.records(), seed, train_.blocks);
}

Batch DlrmDataset::read_records(DataStream stream, const std::vector<std::int64_t>& records,
                                std::int64_t /*first_sample*/, BatchPart part) const {
  const Split& split = stream == DataStream::kTrain ? train_ : held_out_;
  const auto n = static_cast<std::int64_t>(records.size());
  torch::Tensor x = torch::empty({n, kDlrmDense}, torch::kFloat32);
  torch::Tensor categorical = torch::empty({n, kDlrmCategorical}, torch::kInt64);
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  float* dense = x.data_ptr<float>();
  std::int64_t* categories = categorical.data_ptr<std::int64_t>();
  std::int64_t* label = labels.data_ptr<std::int64_t>();
  // The block in hand: a batch's rows mostly share one, so the cache is asked once per block.
  std::size_t held_key = SIZE_MAX;
  std::shared_ptr<const std::vector<DlrmRow>> held;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto [f, row] = split.index.locate(records[static_cast<std::size_t>(i)]);
    const std::int64_t block = row / kDlrmBlockRows, first = block * kDlrmBlockRows;
    const std::size_t key =
        (f << 32 | static_cast<std::size_t>(block)) << 1 | (stream == DataStream::kTrain ? 0 : 1);
    if (key != held_key) {
      held = cache_.get(key, [&] {
        return split.files[f]->read(first,
                                    std::min(kDlrmBlockRows, split.files[f]->rows() - first));
      });
      held_key = key;
    }
    const DlrmRow& r = (*held)[static_cast<std::size_t>(row - first)];
    for (int j = 0; j < kDlrmDense; ++j)
      dense[i * kDlrmDense + j] = std::log1p(static_cast<float>(r.dense[j]));
    std::copy(r.categorical.begin(), r.categorical.end(), categories + i * kDlrmCategorical);
    label[i] = r.label;
  }
  Batch batch;
  if (wants_inputs(part)) batch.inputs = {{"x", x}, {"categorical", categorical}};
  if (wants_targets(part)) batch.targets = {{"labels", labels}};
  return batch;
}

}  // namespace repipe
