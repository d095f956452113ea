// Tests of the CIFAR-10 binary format and dataset: a hand-built record byte by byte, a round
// trip, truncated and corrupt files named with their offsets, generated data read back, and the
// dataset's batches as pure functions of (seed, stream, index), each epoch a permutation.
#include "datasets/cifar10.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "datasets/dataset_files_test.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

class Cifar10Test : public testing::DatasetFilesTest {};

SampleSpec cifar_spec() {
  SampleSpec spec;
  spec.task = TaskKind::kClassification;
  spec.input_shape = {3, 32, 32};
  spec.num_classes = 10;
  return spec;
}

TEST_F(Cifar10Test, AHandBuiltRecordIsLabelThenRedGreenBluePlanes) {
  Cifar10Record r;
  r.label = 7;
  for (int i = 0; i < kCifar10ImageBytes; ++i)
    r.pixels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i % 251);
  const std::string path = (dir_ / "one.bin").string();
  write_cifar10_file(path, {r, r});
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 2u * 3073u);
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[0]), 7);
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[1]), 0);                              // red (0, 0)
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[1 + 1024]), 1024 % 251);              // green (0, 0)
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[1 + 2048 + 33]), (2048 + 33) % 251);  // blue (1, 1)
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[3073]), 7);  // the second record's label
  const std::vector<Cifar10Record> back = read_cifar10_file(path);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].label, 7);
  EXPECT_EQ(back[1].pixels, r.pixels);
}

TEST_F(Cifar10Test, TruncatedAndCorruptFilesNameTheFileAndTheOffset) {
  const std::string truncated = (dir_ / "truncated.bin").string();
  std::ofstream(truncated, std::ios::binary) << std::string(3073 + 100, '\1');
  EXPECT_NE(error_of([&] { read_cifar10_file(truncated); })
                .find("truncated.bin: 3,173 bytes is not a whole number of 3,073-byte CIFAR-10 "
                      "records (record 1 at offset 3,073 has 100 bytes)"),
            std::string::npos);
  std::string two(2 * 3073, '\0');
  two[3073] = 12;  // the second record's label
  const std::string corrupt = (dir_ / "corrupt.bin").string();
  std::ofstream(corrupt, std::ios::binary) << two;
  EXPECT_NE(error_of([&] {
              read_cifar10_file(corrupt);
            }).find("corrupt.bin: offset 3,073 (record 1): label 12, expected 0..9"),
            std::string::npos);
  std::ofstream(dir_ / "empty.bin");
  EXPECT_NE(error_of([&] { read_cifar10_file((dir_ / "empty.bin").string()); }).find("0 bytes"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read_cifar10_file((dir_ / "absent.bin").string());
            }).find("no such CIFAR-10 batch file"),
            std::string::npos);
}

TEST_F(Cifar10Test, GeneratedDataReadsBackAndBatchesArePureFunctionsOfTheirIndex) {
  generate_dataset(*make_cifar10_writer(), {.samples = 23}, dir_, 5, 2, {});
  const fs::path folder = dir_ / kCifar10Folder;
  EXPECT_EQ(fs::file_size(folder / "data_batch_1.bin"), 5u * 3073u);  // 23 = 5+5+5+4+4
  EXPECT_EQ(fs::file_size(folder / "data_batch_5.bin"), 4u * 3073u);
  EXPECT_EQ(fs::file_size(folder / "test_batch.bin"), 4u * 3073u);
  EXPECT_TRUE(fs::is_regular_file(folder / "batches.meta.txt"));
  EXPECT_FALSE(fs::exists(folder.string() + ".partial"));

  const Cifar10Dataset a(dir_.string(), cifar_spec(), 9), b(dir_.string(), cifar_spec(), 9);
  EXPECT_EQ(a.train_samples(), 23);
  EXPECT_EQ(a.test_samples(), 4);
  const Batch first = a.batch(DataStream::kTrain, 2, 4);
  EXPECT_EQ(first.inputs.at("x").sizes(), (std::vector<std::int64_t>{4, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(first.inputs.at("x"), b.batch(DataStream::kTrain, 2, 4).inputs.at("x")));
  EXPECT_TRUE(torch::equal(first.targets.at("labels"),
                           b.batch(DataStream::kTrain, 2, 4).targets.at("labels")));
  // One epoch (23 samples) visits every record once: the labels of the epoch are the file's.
  std::multiset<std::int64_t> epoch, files;
  const torch::Tensor labels = a.batch(DataStream::kTrain, 0, 23).targets.at("labels");
  for (std::int64_t i = 0; i < 23; ++i) epoch.insert(labels[i].item<std::int64_t>());
  for (const std::string& name : cifar10_train_files()) {
    for (const Cifar10Record& r : read_cifar10_file((folder / name).string()))
      files.insert(r.label);
  }
  EXPECT_EQ(epoch, files);
  // Another seed, another order; the held-out stream is the test file in order.
  const Cifar10Dataset other(dir_.string(), cifar_spec(), 10);
  EXPECT_FALSE(
      torch::equal(first.inputs.at("x"), other.batch(DataStream::kTrain, 2, 4).inputs.at("x")));
  const std::vector<Cifar10Record> test = read_cifar10_file((folder / "test_batch.bin").string());
  const torch::Tensor held = a.batch(DataStream::kHeldOut, 0, 4).targets.at("labels");
  for (std::int64_t i = 0; i < 4; ++i)
    EXPECT_EQ(held[i].item<std::int64_t>(), test[static_cast<std::size_t>(i)].label);
  // Standardised pixels: a mean near 0 over a batch.
  EXPECT_LT(std::abs(first.inputs.at("x").mean().item<double>()), 1.0);

  SampleSpec wrong = cifar_spec();
  wrong.num_classes = 100;
  EXPECT_NE(error_of([&] {
              Cifar10Dataset(dir_.string(), wrong, 1);
            }).find("3x32x32 images and 10 classes"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              Cifar10Dataset((dir_ / "nowhere").string(), cifar_spec(), 1);
            }).find("cifar-10-batches-bin"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              generate_dataset(*make_cifar10_writer(), {.samples = 4}, dir_, 1, 1, {});
            }).find("at least 5"),
            std::string::npos);
}

}  // namespace
}  // namespace repipe
