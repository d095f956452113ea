// Tests of the binary formats: .npy headers byte for byte as numpy writes them (and files
// numpy wrote read back), DLRM rows field by field, generated DLRM and UNet3D datasets exact to
// one sample and the same whoever writes them, and truncated and corrupt files named with their
// offsets.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "datasets/dataset_files_test.h"
#include "datasets/dlrm_rows.h"
#include "datasets/npy_file.h"
#include "datasets/unet3d_cases.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

using testing::DatasetFilesTest;
using testing::kPython;

bool have_numpy() {
  return testing::python_has("numpy");
}

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class BinaryFormatsTest : public DatasetFilesTest {};

TEST_F(BinaryFormatsTest, NpyHeadersAreNumpysByteForByte) {
  const std::string header = npy_header(NpyType::kFloat32, {1, 128, 186, 186});
  EXPECT_EQ(header.size() % 64, 0u);
  EXPECT_EQ(header.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<std::size_t>(static_cast<unsigned char>(header[8])), header.size() - 10);
  EXPECT_EQ(header.substr(10, 71),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 128, 186, 186), }");
  EXPECT_EQ(header.back(), '\n');
  EXPECT_NE(npy_header(NpyType::kUInt8, {5}).find("'shape': (5,), }"), std::string::npos);
  if (!have_numpy()) GTEST_SKIP() << "numpy is not installed (python3-numpy)";
  // numpy writes the same header bytes for each type and shape.
  struct Case {
    NpyType type;
    std::vector<std::int64_t> shape;
    const char* numpy;
  };
  for (const Case& c :
       {Case{NpyType::kFloat32, {1, 130, 190, 190}, "np.zeros((1, 130, 190, 190), '<f4')"},
        Case{NpyType::kUInt8, {7}, "np.zeros((7,), 'u1')"},
        Case{NpyType::kInt64, {2, 3}, "np.zeros((2, 3), '<i8')"}}) {
    const fs::path file = dir_ / "numpy.npy";
    const std::string code =
        "import numpy as np; np.save('" + file.string() + "', " + c.numpy + ")";
    ASSERT_EQ(std::system((std::string(kPython) + " -c \"" + code + "\"").c_str()), 0);
    const std::string written = bytes_of(file);
    const std::string ours = npy_header(c.type, c.shape);
    EXPECT_EQ(written.substr(0, ours.size()), ours) << c.numpy;
    const NpyHeader read = read_npy_header(file);
    EXPECT_EQ(read.shape, c.shape);
    EXPECT_EQ(read.type, c.type);
  }
}

TEST_F(BinaryFormatsTest, CorruptAndTruncatedNpyFilesAreNamedWithTheirOffsets) {
  const fs::path file = dir_ / "a.npy";
  const std::string header = npy_header(NpyType::kInt32, {2, 3});
  std::ofstream(file, std::ios::binary) << header << std::string(24, '\x01');
  EXPECT_EQ(read_npy_header(file).elements(), 6);
  std::ofstream(file, std::ios::binary) << header << std::string(20, '\x01');
  EXPECT_NE(error_of([&] { read_npy_header(file); }).find("offset 148: the file ends here"),
            std::string::npos)
      << error_of([&] { read_npy_header(file); });
  std::string fortran = header;
  fortran.replace(fortran.find("False"), 5, "True ");
  std::ofstream(file, std::ios::binary) << fortran << std::string(24, '\x01');
  EXPECT_NE(error_of([&] { read_npy_header(file); }).find("Fortran order"), std::string::npos);
  std::string descr = header;
  descr.replace(descr.find("<i4"), 3, "<c8");
  std::ofstream(file, std::ios::binary) << descr << std::string(24, '\x01');
  EXPECT_NE(error_of([&] { read_npy_header(file); }).find("offset 20: descr '<c8'"),
            std::string::npos)
      << error_of([&] { read_npy_header(file); });
  std::ofstream(file, std::ios::binary) << "PK\x03\x04 a zip, not npy";
  EXPECT_NE(error_of([&] { read_npy_header(file); }).find("offset 0: not a .npy file"),
            std::string::npos);
}

TEST_F(BinaryFormatsTest, ADlrmRowIsFortyLittleEndianInt32s) {
  DlrmRow row;
  row.label = 1;
  for (int j = 0; j < kDlrmDense; ++j) row.dense[j] = 1000 + j;
  for (int j = 0; j < kDlrmCategorical; ++j) row.categorical[j] = j % kDlrmCategoryRanges[j];
  row.categorical[5] = 2;  // category 5 has 3 values
  const fs::path file = dir_ / "rows.bin";
  write_dlrm_rows(file, {row, row});
  const std::string bytes = bytes_of(file);
  ASSERT_EQ(bytes.size(), 2u * 160u);
  auto word = [&](std::size_t offset) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[offset])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[offset + 1])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[offset + 2])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[offset + 3])) << 24;
  };
  EXPECT_EQ(word(0), 1u);              // label
  EXPECT_EQ(word(4), 1000u);           // dense 0
  EXPECT_EQ(word(4 * 13), 1012u);      // dense 12
  EXPECT_EQ(word(4 * 14), 0u);         // categorical 0
  EXPECT_EQ(word(4 * 19), 2u);         // categorical 5
  EXPECT_EQ(word(160 + 4 * 39), 25u);  // the second row's categorical 25
  EXPECT_EQ(dlrm_row_count(file), 2);
  const std::vector<DlrmRow> back = DlrmRowFile(file).read(1, 1);
  EXPECT_EQ(back[0].dense, row.dense);
  EXPECT_EQ(back[0].categorical, row.categorical);

  // A category out of its range names the byte offset and the field.
  DlrmRow bad = row;
  bad.categorical[5] = 3;
  write_dlrm_rows(file, {row, bad});
  const std::string range = error_of([&] { DlrmRowFile(file).read(0, 2); });
  EXPECT_NE(range.find("offset " + std::to_string(160 + 4 * 19) +
                       " (row 1, categorical 5): 3, expected 0..2"),
            std::string::npos)
      << range;
  // A truncated file says where its last row breaks off.
  fs::resize_file(file, 300);
  const std::string cut = error_of([&] { dlrm_row_count(file); });
  EXPECT_NE(cut.find("row 1 at offset 160 has 140 bytes"), std::string::npos) << cut;
}

TEST_F(BinaryFormatsTest, GeneratedDlrmIsExactToOneRowAndTheSameWithAnyWriters) {
  const std::unique_ptr<DatasetWriter> writer = make_dlrm_writer();
  const std::int64_t target = 3'000'000;
  const DatagenSummary one = generate_dataset(*writer, {.bytes = target}, dir_ / "a", 4, 1, {});
  const DatagenSummary two = generate_dataset(*writer, {.bytes = target}, dir_ / "b", 4, 2, {});
  EXPECT_LE(one.bytes, target);
  EXPECT_GT(one.bytes, target - kDlrmRowBytes);
  EXPECT_EQ(one.samples, two.samples);
  for (const char* f : {"train/part-00000-of-00001.bin", "test/part-00000-of-00001.bin"}) {
    EXPECT_EQ(bytes_of(dir_ / "a" / f), bytes_of(dir_ / "b" / f)) << f;
  }
  const DlrmDataset data((dir_ / "a").string(), 1);
  const Batch batch = data.read(DataStream::kTrain, 0, 64, BatchPart::kBoth);
  EXPECT_EQ(batch.inputs.at("x").sizes(), (std::vector<std::int64_t>{64, 13}));
  EXPECT_EQ(batch.inputs.at("categorical").sizes(), (std::vector<std::int64_t>{64, 26}));
  EXPECT_GE(batch.inputs.at("x").min().item<float>(), 0.0f) << "log(1 + dense)";
  EXPECT_LE(batch.targets.at("labels").max().item<std::int64_t>(), 1);

  // One epoch visits every training row once, a block of kDlrmBlockRows rows at a time (rows
  // are told apart by their 26 categories).
  const DlrmRowFile train(dir_ / "a/train/part-00000-of-00001.bin");
  ASSERT_GT(train.rows(), kDlrmBlockRows);  // two blocks at least
  std::map<std::vector<std::int64_t>, std::int64_t> row_of;
  const std::vector<DlrmRow> rows = train.read(0, train.rows());
  for (std::int64_t i = 0; i < train.rows(); ++i) {
    const auto& c = rows[static_cast<std::size_t>(i)].categorical;
    row_of[std::vector<std::int64_t>(c.begin(), c.end())] = i;
  }
  ASSERT_EQ(static_cast<std::int64_t>(row_of.size()), train.rows());
  const torch::Tensor seen =
      data.read(DataStream::kTrain, 0, train.rows(), BatchPart::kInputs).inputs.at("categorical");
  std::set<std::int64_t> visited;
  std::int64_t first_block = -1;
  for (std::int64_t i = 0; i < train.rows(); ++i) {
    const std::int64_t* c = seen[i].contiguous().data_ptr<std::int64_t>();
    const std::int64_t row = row_of.at(std::vector<std::int64_t>(c, c + kDlrmCategorical));
    visited.insert(row);
    if (i == 0) first_block = row / kDlrmBlockRows;
    if (i < kDlrmBlockRows) {
      EXPECT_EQ(row / kDlrmBlockRows, first_block) << "sample " << i;
    }
  }
  EXPECT_EQ(static_cast<std::int64_t>(visited.size()), train.rows());
}

TEST_F(BinaryFormatsTest, GeneratedUnet3dCasesPairImagesAndMasks) {
  const std::unique_ptr<DatasetWriter> writer = make_unet3d_writer();
  const std::vector<PlannedFile> plan = writer->plan({.samples = 2}, 9);
  ASSERT_EQ(plan.size(), 6u) << "2 training cases and 1 validation case, x and y each";
  EXPECT_EQ(plan[0].name, "train/case_00000_x.npy");
  EXPECT_EQ(plan[5].name, "valid/case_00000_y.npy");
  // A byte target takes whole cases while they fit.
  const std::int64_t target = plan[0].bytes + plan[1].bytes + plan[2].bytes + plan[3].bytes + 1000;
  const std::vector<PlannedFile> sized = writer->plan({.bytes = target}, 9);
  ASSERT_EQ(sized.size(), 4u);
  EXPECT_THROW(writer->plan({.bytes = 1000}, 9), UsageError);

  const fs::path out = dir_ / "unet3d";
  const DatagenSummary summary = generate_dataset(*writer, {.samples = 1}, out, 9, 2, {});
  EXPECT_EQ(summary.samples, 2) << "one training and one validation case";
  const NpyHeader x = read_npy_header(out / "train" / "case_00000_x.npy");
  const NpyHeader y = read_npy_header(out / "train" / "case_00000_y.npy");
  EXPECT_EQ(x.type, NpyType::kFloat32);
  EXPECT_EQ(y.type, NpyType::kUInt8);
  EXPECT_EQ(x.shape, y.shape);
  ASSERT_EQ(x.shape.size(), 4u);
  EXPECT_GE(x.shape[1], 128);
  EXPECT_LE(x.shape[1], 470);
  EXPECT_EQ(x.shape[2], x.shape[3]);
  const Unet3dDataset data(out.string(), 3);
  const Batch patch = data.read(DataStream::kTrain, 0, 1, BatchPart::kBoth);
  EXPECT_EQ(patch.inputs.at("x").sizes(), (std::vector<std::int64_t>{1, 1, 128, 128, 128}));
  EXPECT_GE(patch.inputs.at("x").min().item<float>(), -2.340702f);
  EXPECT_LE(patch.inputs.at("x").max().item<float>(), 2.639792f);
  EXPECT_LE(patch.targets.at("labels").max().item<std::uint8_t>(), 1);
  // A sample's patch depends on the sample, not on its slot in the batch: sample 1 (the case
  // again, next epoch) read alone is sample 1 read beside sample 0.
  const Batch pair = data.read(DataStream::kTrain, 0, 2, BatchPart::kInputs);
  const Batch alone = data.read(DataStream::kTrain, 1, 1, BatchPart::kInputs);
  EXPECT_TRUE(torch::equal(pair.inputs.at("x")[1], alone.inputs.at("x")[0]));
  EXPECT_TRUE(torch::equal(pair.inputs.at("x")[0], patch.inputs.at("x")[0]));
}

}  // namespace
}  // namespace repipe
