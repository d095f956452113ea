// datasets/cifar10.cc: the binary format, strictly checked, and the dataset over it.
#include "datasets/cifar10.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/seed.h"
#include "common/text_format.h"
#include "datasets/synthetic.h"

namespace repipe {
namespace {

// CIFAR-10's per-channel means and standard deviations of pixels in [0, 1] (training set).
constexpr float kMean[3] = {0.4914f, 0.4822f, 0.4465f};
constexpr float kStd[3] = {0.2470f, 0.2435f, 0.2616f};
// Generated images: pixel = 128 + 40 per unit of the template plus unit noise.
constexpr float kPixelsPerUnit = 40;

void check_spec(const SampleSpec& spec) {
  const bool fits = spec.task == TaskKind::kClassification && spec.num_classes == kCifar10Classes &&
                    spec.input_shape == std::vector<std::int64_t>{3, 32, 32};
  if (!fits) {
    throw UsageError(
        "dataset cifar10: needs a model of 3x32x32 images and 10 classes (e.g. small_cnn, "
        "resnet-mini with --image-size 32); this model's sample does not match");
  }
}

// Images [n, 3, 32, 32] standardised, and labels [n], of the chosen records.
Batch to_batch(const std::vector<const Cifar10Record*>& records, BatchPart part) {
  const auto n = static_cast<std::int64_t>(records.size());
  Batch batch;
  if (wants_targets(part)) {
    torch::Tensor labels = torch::empty({n}, torch::kInt64);
    for (std::int64_t i = 0; i < n; ++i) labels.data_ptr<std::int64_t>()[i] = records[i]->label;
    batch.targets["labels"] = labels;
  }
  if (!wants_inputs(part)) return batch;
  torch::Tensor bytes = torch::empty({n, kCifar10ImageBytes}, torch::kUInt8);
  std::uint8_t* out = bytes.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    std::copy(records[i]->pixels.begin(), records[i]->pixels.end(), out + i * kCifar10ImageBytes);
  }
  torch::Tensor x = bytes.view({n, 3, 32, 32}).to(torch::kFloat32).div_(255);
  const torch::Tensor mean = torch::tensor({kMean[0], kMean[1], kMean[2]}).view({1, 3, 1, 1});
  const torch::Tensor std = torch::tensor({kStd[0], kStd[1], kStd[2]}).view({1, 3, 1, 1});
  batch.inputs["x"] = (x - mean) / std;
  return batch;
}

}  // namespace

std::vector<std::string> cifar10_train_files() {
  std::vector<std::string> names;
  for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  return names;
}

std::vector<Cifar10Record> read_cifar10_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw UsageError(path + ": no such CIFAR-10 batch file");
  const auto size = static_cast<std::int64_t>(in.tellg());
  if (size == 0 || size % kCifar10RecordBytes != 0) {
    const std::int64_t whole = size / kCifar10RecordBytes;
    throw UsageError(path + ": " + group_thousands(size) + " bytes is not a whole number of " +
                     group_thousands(kCifar10RecordBytes) + "-byte CIFAR-10 records (record " +
                     std::to_string(whole) + " at offset " +
                     group_thousands(whole * kCifar10RecordBytes) + " has " +
                     std::to_string(size - whole * kCifar10RecordBytes) + " bytes)");
  }
  in.seekg(0);
  std::vector<Cifar10Record> records(static_cast<std::size_t>(size / kCifar10RecordBytes));
  for (std::size_t r = 0; r < records.size(); ++r) {
    char label = 0;
    in.read(&label, 1);
    in.read(reinterpret_cast<char*>(records[r].pixels.data()), kCifar10ImageBytes);
    if (!in) throw UsageError(path + ": read failed at record " + std::to_string(r));
    records[r].label = static_cast<std::uint8_t>(label);
    if (records[r].label >= kCifar10Classes) {
      throw UsageError(path + ": offset " +
                       group_thousands(static_cast<std::int64_t>(r) * kCifar10RecordBytes) +
                       " (record " + std::to_string(r) + "): label " +
                       std::to_string(records[r].label) + ", expected 0..9");
    }
  }
  return records;
}

void write_cifar10_file(const std::string& path, const std::vector<Cifar10Record>& records) {
  std::string bytes;
  bytes.reserve(records.size() * kCifar10RecordBytes);
  for (const Cifar10Record& r : records) {
    REPIPE_CHECK(r.label < kCifar10Classes, "CIFAR-10 label " << int{r.label});
    bytes.push_back(static_cast<char>(r.label));
    bytes.append(reinterpret_cast<const char*>(r.pixels.data()), r.pixels.size());
  }
  write_file_atomically(path, bytes);
}

namespace {

class Cifar10Writer : public DatasetWriter {
 public:
  std::vector<PlannedFile> plan(const DatagenTarget& target, std::uint64_t seed) const override {
    // Training and test records as CIFAR-10's 50,000 : 10,000.
    std::int64_t train = target.samples, test = target.samples / 5;
    if (target.bytes > 0) {
      const std::int64_t records = target.bytes / kCifar10RecordBytes;
      train = records * 5 / 6;
      test = records - train;
    }
    if (train < 5 || test < 1) {
      throw UsageError(
          "cifar10: needs at least 5 training samples (one per batch file) and 1 test sample, "
          "got " +
          std::to_string(train) + " and " + std::to_string(test));
    }
    std::vector<PlannedFile> files;
    std::int64_t first = 0;
    const auto in_folder = [](const std::string& name) {
      return (std::filesystem::path(kCifar10Folder) / name).string();
    };
    const std::vector<std::string> names = cifar10_train_files();
    for (std::size_t f = 0; f < names.size(); ++f) {
      const std::int64_t share = train / 5 + (static_cast<std::int64_t>(f) < train % 5 ? 1 : 0);
      files.push_back({in_folder(names[f]), share, first, share * kCifar10RecordBytes, seed});
      first += share;
    }
    files.push_back({in_folder(kCifar10TestFile), test, 0, test * kCifar10RecordBytes, seed});
    return files;
  }

  // A record is SyntheticDataset(seed)'s class template of its label plus unit noise, in
  // pixel units (128 + 40 per unit, clamped to a byte), drawn in plain C++ from (seed, split,
  // record) so that writing keeps up with the disk. Per file, a table of noise is drawn once
  // (Irwin-Hall: four 16-bit uniforms, unit variance); a record takes one word for its label
  // and the table's window at a random offset, so a pixel costs a byte add the compiler
  // vectorises. Windows overlap between records, which a learner cannot exploit: the offsets
  // are random and the template, not the noise, carries the label.
  void write(const PlannedFile& file, const std::filesystem::path& path,
             const WroteBytes& wrote) const override {
    SampleSpec spec;
    spec.task = TaskKind::kClassification;
    spec.input_shape = {3, 32, 32};
    spec.num_classes = kCifar10Classes;
    const torch::Tensor templates =
        (SyntheticDataset(spec, file.seed).templates() * kPixelsPerUnit + 128)
            .round()
            .clamp(0, 255)
            .to(torch::kInt16)
            .contiguous();
    const std::int16_t* base = templates.data_ptr<std::int16_t>();
    const std::uint64_t split = mix_seed(file.seed, file.name.ends_with(kCifar10TestFile) ? 2 : 1);
    const std::vector<std::int16_t> noise = pixel_noise(split);
    std::ofstream out(path, std::ios::binary);
    constexpr std::int64_t kChunk = 1024;  // records per write
    std::string bytes;
    for (std::int64_t done = 0; done < file.samples; done += kChunk) {
      const std::int64_t n = std::min(kChunk, file.samples - done);
      bytes.resize(static_cast<std::size_t>(n * kCifar10RecordBytes));
      for (std::int64_t i = 0; i < n; ++i) {
        const std::uint64_t word =
            mix_seed(split, static_cast<std::uint64_t>(file.first_sample + done + i));
        const auto label = static_cast<int>(scale_below(word, kCifar10Classes));
        const std::int16_t* window = noise.data() + (word & (kNoiseOffsets - 1));
        auto* record = reinterpret_cast<std::uint8_t*>(
            &bytes[static_cast<std::size_t>(i * kCifar10RecordBytes)]);
        record[0] = static_cast<std::uint8_t>(label);
        const std::int16_t* t = base + label * kCifar10ImageBytes;
        for (std::int64_t k = 0; k < kCifar10ImageBytes; ++k) {
          const int pixel = t[k] + window[k];
          record[1 + k] = static_cast<std::uint8_t>(pixel < 0 ? 0 : pixel > 255 ? 255 : pixel);
        }
      }
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!out) throw UsageError(path.string() + ": write failed (disk full?)");
      wrote(static_cast<std::int64_t>(bytes.size()));
    }
  }

  // Offsets into the noise table: a power of two, so a word's low bits pick one.
  static constexpr std::uint64_t kNoiseOffsets = std::uint64_t{1} << 20;

  // kNoiseOffsets + one image of unit noise in pixel units, rounded.
  static std::vector<std::int16_t> pixel_noise(std::uint64_t seed) {
    // Four uniforms on [0, 2^16) have variance 4 * 2^32 / 12: times sqrt(3) / 2^16 is unit.
    constexpr float kNoiseScale = kPixelsPerUnit * 1.7320508f / 65536.0f;
    std::vector<std::int16_t> noise(kNoiseOffsets + kCifar10ImageBytes);
    std::uint64_t state = mix_seed(seed, 7);
    for (std::int16_t& value : noise) {
      state = mix_seed(state, 7);
      const float sum = static_cast<float>((state & 0xffff) + ((state >> 16) & 0xffff) +
                                           ((state >> 32) & 0xffff) + (state >> 48)) -
                        2.0f * 65535.0f;
      value = static_cast<std::int16_t>(std::lround(sum * kNoiseScale));
    }
    return noise;
  }

  void write_extras(const std::filesystem::path& folder) const override {
    write_file_atomically(folder / kCifar10Folder / "batches.meta.txt",
                          "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
  }
};

}  // namespace

std::unique_ptr<DatasetWriter> make_cifar10_writer() {
  return std::make_unique<Cifar10Writer>();
}

Cifar10Dataset::Cifar10Dataset(const std::string& dir, const SampleSpec& spec, std::uint64_t seed) {
  check_spec(spec);
  const std::filesystem::path folder = std::filesystem::path(dir) / kCifar10Folder;
  if (!std::filesystem::is_directory(folder)) {
    throw UsageError(
        "dataset cifar10:" + dir + ": no folder " + folder.string() +
        " (the binary version's layout; `repipe datagen --workload cifar10` writes one)");
  }
  for (const std::string& name : cifar10_train_files()) {
    std::vector<Cifar10Record> part = read_cifar10_file((folder / name).string());
    train_.insert(train_.end(), part.begin(), part.end());
  }
  test_ = read_cifar10_file((folder / kCifar10TestFile).string());
  set_records(train_samples(), test_samples(), seed);
}

Batch Cifar10Dataset::read_records(DataStream stream, const std::vector<std::int64_t>& records,
                                   std::int64_t /*first_sample*/, BatchPart part) const {
  const std::vector<Cifar10Record>& source = stream == DataStream::kTrain ? train_ : test_;
  std::vector<const Cifar10Record*> chosen;
  for (std::int64_t r : records) chosen.push_back(&source[static_cast<std::size_t>(r)]);
  return to_batch(chosen, part);
}

}  // namespace repipe
