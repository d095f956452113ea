// datasets/record_dataset.cc: stream positions to stored records.
#include "datasets/record_dataset.h"

#include <algorithm>

#include "common/error.h"

namespace repipe {

void RecordDataset::set_records(std::int64_t train, std::int64_t held_out, std::uint64_t seed,
                                std::vector<std::int64_t> train_groups) {
  REPIPE_CHECK(train > 0 && held_out > 0, "records " << train << " and " << held_out);
  train_order_ = std::make_unique<EpochOrder>(train, seed, std::move(train_groups));
  held_out_ = held_out;
}

Batch RecordDataset::read(DataStream stream, std::int64_t first, std::int64_t count,
                          BatchPart part) const {
  REPIPE_CHECK(train_order_ && first >= 0 && count >= 1, "read " << first << " + " << count);
  if (stream == DataStream::kTrain) {
    return read_records(stream, train_order_->records_at(first, count), first, part);
  }
  std::vector<std::int64_t> records;
  for (std::int64_t k = first; k < first + count; ++k) records.push_back(k % held_out_);
  return read_records(stream, records, first, part);
}

std::vector<std::int64_t> FileIndex::sizes() const {
  std::vector<std::int64_t> out;
  for (std::size_t f = 0; f < first_.size(); ++f) {
    out.push_back((f + 1 < first_.size() ? first_[f + 1] : records_) - first_[f]);
  }
  return out;
}

std::pair<std::size_t, std::int64_t> FileIndex::locate(std::int64_t record) const {
  REPIPE_CHECK(record >= 0 && record < records_, "record " << record << " of " << records_);
  const auto file = static_cast<std::size_t>(
      std::upper_bound(first_.begin(), first_.end(), record) - first_.begin() - 1);
  return {file, record - first_[file]};
}

std::vector<std::filesystem::path> files_with_extensions(
    const std::filesystem::path& folder, const std::vector<std::string>& extensions) {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(folder)) return files;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() &&
        std::find(extensions.begin(), extensions.end(), ext) != extensions.end()) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace repipe
