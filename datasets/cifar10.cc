// datasets/cifar10.cc: the binary format, strictly checked, and the dataset over it.
#include "datasets/cifar10.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/text_format.h"
#include "datasets/synthetic.h"

namespace repipe {
namespace {

// CIFAR-10's per-channel means and standard deviations of pixels in [0, 1] (training set).
constexpr float kMean[3] = {0.4914f, 0.4822f, 0.4465f};
constexpr float kStd[3] = {0.2470f, 0.2435f, 0.2616f};

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
Batch to_batch(const std::vector<const Cifar10Record*>& records) {
  const auto n = static_cast<std::int64_t>(records.size());
  torch::Tensor bytes = torch::empty({n, kCifar10ImageBytes}, torch::kUInt8);
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  std::uint8_t* out = bytes.data_ptr<std::uint8_t>();
  std::int64_t* label = labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    std::copy(records[i]->pixels.begin(), records[i]->pixels.end(), out + i * kCifar10ImageBytes);
    label[i] = records[i]->label;
  }
  torch::Tensor x = bytes.view({n, 3, 32, 32}).to(torch::kFloat32).div_(255);
  const torch::Tensor mean = torch::tensor({kMean[0], kMean[1], kMean[2]}).view({1, 3, 1, 1});
  const torch::Tensor std = torch::tensor({kStd[0], kStd[1], kStd[2]}).view({1, 3, 1, 1});
  return {{{"x", (x - mean) / std}}, {{"labels", labels}}};
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

void generate_cifar10(const std::string& dir, std::int64_t train_samples, std::int64_t test_samples,
                      std::uint64_t seed,
                      const std::function<void(std::int64_t, std::int64_t)>& on_progress) {
  if (train_samples < 5 || test_samples < 1) {
    throw UsageError(
        "cifar10: needs at least 5 training samples (one per batch file) and 1 test "
        "sample, got " +
        std::to_string(train_samples) + " and " + std::to_string(test_samples));
  }
  SampleSpec spec;
  spec.task = TaskKind::kClassification;
  spec.input_shape = {3, 32, 32};
  spec.num_classes = kCifar10Classes;
  const SyntheticDataset source(spec, seed);
  const std::filesystem::path folder = std::filesystem::path(dir) / kCifar10Folder;
  const std::filesystem::path partial = folder.string() + ".partial";
  std::filesystem::remove_all(partial);
  std::filesystem::create_directories(partial);
  constexpr std::int64_t kChunk = 1000;  // samples drawn per SyntheticDataset batch
  std::int64_t done = 0;
  const std::int64_t total = train_samples + test_samples;
  auto write = [&](const std::string& name, std::int64_t samples, DataStream stream,
                   std::int64_t& drawn) {
    std::vector<Cifar10Record> records;
    records.reserve(static_cast<std::size_t>(samples));
    while (static_cast<std::int64_t>(records.size()) < samples) {
      const std::int64_t n = std::min(kChunk, samples - static_cast<std::int64_t>(records.size()));
      const Batch batch = source.batch(stream, drawn++, n);
      // Templates plus noise are roughly standard normal: 128 +- 40 per unit covers them.
      const torch::Tensor pixels =
          (batch.inputs.at("x") * 40 + 128).round().clamp(0, 255).to(torch::kUInt8).contiguous();
      const std::uint8_t* p = pixels.data_ptr<std::uint8_t>();
      const torch::Tensor labels = batch.targets.at("labels").contiguous();
      for (std::int64_t i = 0; i < n; ++i) {
        Cifar10Record& r = records.emplace_back();
        r.label = static_cast<std::uint8_t>(labels.data_ptr<std::int64_t>()[i]);
        std::copy(p + i * kCifar10ImageBytes, p + (i + 1) * kCifar10ImageBytes, r.pixels.begin());
      }
      done += n;
      if (on_progress) on_progress(done, total);
    }
    write_cifar10_file((partial / name).string(), records);
  };
  try {
    std::int64_t drawn_train = 0, drawn_test = 0;
    const std::vector<std::string> files = cifar10_train_files();
    for (std::size_t f = 0; f < files.size(); ++f) {
      const std::int64_t share =
          train_samples / 5 + (static_cast<std::int64_t>(f) < train_samples % 5 ? 1 : 0);
      write(files[f], share, DataStream::kTrain, drawn_train);
    }
    write(kCifar10TestFile, test_samples, DataStream::kHeldOut, drawn_test);
    write_file_atomically(partial / "batches.meta.txt",
                          "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(partial, ignored);
    throw;
  }
  std::filesystem::remove_all(folder);
  std::filesystem::rename(partial, folder);
}

Cifar10Dataset::Cifar10Dataset(const std::string& dir, const SampleSpec& spec, std::uint64_t seed)
    : seed_(seed) {
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
}

Batch Cifar10Dataset::batch(DataStream stream, std::int64_t index, std::int64_t samples) const {
  REPIPE_CHECK(index >= 0 && samples >= 1, "batch " << index << " of " << samples);
  std::vector<const Cifar10Record*> chosen;
  if (stream == DataStream::kHeldOut) {
    for (std::int64_t k = index * samples; k < (index + 1) * samples; ++k) {
      chosen.push_back(&test_[static_cast<std::size_t>(k % test_samples())]);
    }
    return to_batch(chosen);
  }
  // Sample k of the stream is position k mod N of epoch k / N's order, drawn from (seed, epoch).
  const std::int64_t n = train_samples();
  std::int64_t cached_epoch = -1;
  torch::Tensor order;
  for (std::int64_t k = index * samples; k < (index + 1) * samples; ++k) {
    const std::int64_t epoch = k / n;
    if (epoch != cached_epoch) {
      at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
          seed_ * 1000003u + static_cast<std::uint64_t>(epoch));
      order = torch::randperm(n, gen, torch::kInt64);
      cached_epoch = epoch;
    }
    chosen.push_back(&train_[static_cast<std::size_t>(order.data_ptr<std::int64_t>()[k % n])]);
  }
  return to_batch(chosen);
}

}  // namespace repipe
