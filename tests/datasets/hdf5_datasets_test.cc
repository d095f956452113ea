// Tests of the HDF5 formats: NVIDIA's BERT shards and generic (x, y) files. A hand-built shard
// checked field by field as h5py reads it, h5py-written files read by repipe, generated data
// read back with its invariants, sizes exact to one record, and wrong, truncated and corrupt
// files named with their dataset and row.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "datasets/bert_hdf5.h"
#include "datasets/dataset_files_test.h"
#include "datasets/generic_hdf5.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

using testing::DatasetFilesTest;
using testing::run_python;

bool have_h5py() {
  return testing::python_has("h5py");
}

class Hdf5DatasetsTest : public DatasetFilesTest {};

SampleSpec bert_spec(std::int64_t seq_len) {
  return {TaskKind::kMaskedLM, {}, 0, 30522, seq_len, 20};
}

// Two sequences of L = 8 with P = 3, every field a value of its own.
BertRecords hand_built() {
  BertRecords r;
  r.seq_len = 8;
  r.max_predictions = 3;
  r.input_ids = {101, 2000, 103, 2002, 102, 2004, 102, 0, 101, 3000, 3001, 102, 103, 102, 0, 0};
  r.input_mask = {1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0};
  r.segment_ids = {0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0};
  r.masked_lm_positions = {2, 0, 0, 1, 4, 0};
  r.masked_lm_ids = {2001, 0, 0, 3000, 3002, 0};
  r.next_sentence_labels = {0, 1};
  return r;
}

TEST_F(Hdf5DatasetsTest, AHandBuiltShardIsNvidiasSchemaFieldByField) {
  const fs::path shard = dir_ / "training" / "part-00000.hdf5";
  fs::create_directories(shard.parent_path());
  write_bert_shard(shard, hand_built());
  EXPECT_EQ(bert_record_bytes(128, 20), 128 * 4 + 128 + 128 + 20 * 4 + 20 * 4 + 1);

  const BertShard read(shard, 30522);
  EXPECT_EQ(read.size(), 2);
  EXPECT_EQ(read.seq_len(), 8);
  EXPECT_EQ(read.max_predictions(), 3);
  const BertRecords back = read.read(0, 2);
  const BertRecords want = hand_built();
  EXPECT_EQ(back.input_ids, want.input_ids);
  EXPECT_EQ(back.input_mask, want.input_mask);
  EXPECT_EQ(back.segment_ids, want.segment_ids);
  EXPECT_EQ(back.masked_lm_positions, want.masked_lm_positions);
  EXPECT_EQ(back.masked_lm_ids, want.masked_lm_ids);
  EXPECT_EQ(back.next_sentence_labels, want.next_sentence_labels);
  EXPECT_EQ(read.read(1, 1).input_ids[1], 3000) << "rows read at an offset";

  // The dataset turns a row into the model's tensors; padded predictions are ignored (-100).
  const BertDataset data(dir_.string(), bert_spec(8), 1);
  const Batch held = data.read(DataStream::kHeldOut, 1, 1, BatchPart::kBoth);
  EXPECT_EQ(held.inputs.at("input_ids")[0][12 - 8].item<std::int64_t>(), 103);
  EXPECT_EQ(held.inputs.at("token_type_ids")[0][5].item<std::int64_t>(), 1);
  EXPECT_EQ(held.inputs.at("attention_mask")[0][6].item<std::int64_t>(), 0);
  EXPECT_EQ(held.inputs.at("mlm_positions")[0][1].item<std::int64_t>(), 4);
  EXPECT_EQ(held.targets.at("mlm_ids")[0][1].item<std::int64_t>(), 3002);
  EXPECT_EQ(held.targets.at("mlm_ids")[0][2].item<std::int64_t>(), -100);
  EXPECT_EQ(held.targets.at("nsp_labels")[0].item<std::int64_t>(), 1);

  if (!have_h5py()) GTEST_SKIP() << "h5py is not installed (python3-h5py)";
  // h5py sees NVIDIA's dtypes and shapes, and the same values.
  ASSERT_EQ(
      run_python(dir_ / "check.py",
                 "import sys, h5py\n"
                 "f = h5py.File(sys.argv[1], 'r')\n"
                 "want = {'input_ids': ('int32', (2, 8)), 'input_mask': ('int8', (2, 8)),\n"
                 "  'segment_ids': ('int8', (2, 8)), 'masked_lm_positions': ('int32', (2, 3)),\n"
                 "  'masked_lm_ids': ('int32', (2, 3)), 'next_sentence_labels': ('int8', (2,))}\n"
                 "assert sorted(f.keys()) == sorted(want), list(f.keys())\n"
                 "for k, (t, s) in want.items():\n"
                 "    assert f[k].dtype == t and f[k].shape == s, (k, f[k].dtype, f[k].shape)\n"
                 "assert list(f['input_ids'][1]) == [101, 3000, 3001, 102, 103, 102, 0, 0]\n"
                 "assert list(f['masked_lm_ids'][0]) == [2001, 0, 0]\n"
                 "assert list(f['next_sentence_labels']) == [0, 1]\n",
                 shard.string()),
      0);
}

TEST_F(Hdf5DatasetsTest, ShardsWrittenByH5pyAreRead) {
  if (!have_h5py()) GTEST_SKIP() << "h5py is not installed (python3-h5py)";
  fs::create_directories(dir_ / "training");
  ASSERT_EQ(
      run_python(dir_ / "write.py",
                 "import sys, h5py, numpy as np\n"
                 "f = h5py.File(sys.argv[1], 'w')\n"
                 "n, l, p = 3, 16, 4\n"
                 "ids = np.arange(n * l, dtype='int32').reshape(n, l) + 1000\n"
                 "f['input_ids'] = ids\n"
                 "f['input_mask'] = np.ones((n, l), 'int8')\n"
                 "f['segment_ids'] = np.zeros((n, l), 'int8')\n"
                 "f['masked_lm_positions'] = np.tile(np.array([1, 2, 0, 0], 'int32'), (n, 1))\n"
                 "f['masked_lm_ids'] = ids[:, [1, 2, 0, 0]]\n"
                 "f['next_sentence_labels'] = np.array([1, 0, 1], 'int8')\n",
                 (dir_ / "training" / "shard.hdf5").string()),
      0);
  const BertShard shard(dir_ / "training" / "shard.hdf5", 30522);
  EXPECT_EQ(shard.size(), 3);
  EXPECT_EQ(shard.seq_len(), 16);
  EXPECT_EQ(shard.max_predictions(), 4) << "any P is read";
  const BertRecords rows = shard.read(2, 1);
  EXPECT_EQ(rows.input_ids[5], 1000 + 2 * 16 + 5);
  EXPECT_EQ(rows.masked_lm_ids[1], 1000 + 2 * 16 + 2);
  EXPECT_EQ(rows.next_sentence_labels[0], 1);
  // The model reads 128 tokens: the mismatch names the file and the flag that fixes it.
  EXPECT_NE(error_of([&] { BertDataset(dir_.string(), bert_spec(128), 1); }).find("--seq-len 16"),
            std::string::npos);
}

TEST_F(Hdf5DatasetsTest, GeneratedBertIsExactInSizeAndKeepsItsInvariants) {
  const std::unique_ptr<DatasetWriter> writer = make_bert_writer();
  const std::int64_t target = 1 << 20;
  const fs::path out = dir_ / "bert";
  const DatagenSummary summary = generate_dataset(*writer, {.bytes = target}, out, 3, 2, {});
  std::int64_t on_disk = 0;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (e.path().extension() == ".hdf5") on_disk += static_cast<std::int64_t>(e.file_size());
  }
  EXPECT_EQ(on_disk, summary.bytes);
  EXPECT_LE(on_disk, target);
  EXPECT_GT(on_disk, target - bert_record_bytes(128, 20)) << "exact to one record";

  const BertShard shard(out / "training" / "part-00000-of-00001.hdf5", 30522);
  const BertRecords r = shard.read(0, shard.size());
  for (std::int64_t i = 0; i < r.size(); ++i) {
    std::int64_t length = 0;
    while (length < 128 && r.input_mask[static_cast<std::size_t>(i * 128 + length)] == 1) ++length;
    EXPECT_GE(length, 64);
    EXPECT_EQ(r.input_ids[static_cast<std::size_t>(i * 128)], 101) << "[CLS] first";
    EXPECT_EQ(r.input_ids[static_cast<std::size_t>(i * 128 + length - 1)], 102) << "[SEP] last";
    for (std::int64_t t = length; t < 128; ++t) {
      EXPECT_EQ(r.input_ids[static_cast<std::size_t>(i * 128 + t)], 0) << "padding";
    }
    std::int64_t previous = 0;
    for (std::int64_t k = 0; k < 20; ++k) {
      const std::int32_t pos = r.masked_lm_positions[static_cast<std::size_t>(i * 20 + k)];
      if (pos == 0) break;
      EXPECT_GT(pos, previous) << "sorted, distinct";
      EXPECT_EQ(r.input_ids[static_cast<std::size_t>(i * 128 + pos)], 103) << "[MASK] there";
      EXPECT_GE(r.masked_lm_ids[static_cast<std::size_t>(i * 20 + k)], 1000);
      previous = pos;
    }
    EXPECT_GT(previous, 0) << "at least one masked token";
  }
  // The same seed writes the same bytes, with any number of writers.
  const fs::path again = dir_ / "again";
  generate_dataset(*writer, {.bytes = target}, again, 3, 1, {});
  auto bytes_of = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(bytes_of(out / "test" / "part-00000-of-00001.hdf5"),
            bytes_of(again / "test" / "part-00000-of-00001.hdf5"));
}

TEST_F(Hdf5DatasetsTest, WrongTruncatedAndCorruptShardsAreNamed) {
  const fs::path shard = dir_ / "s.hdf5";
  write_bert_shard(shard, hand_built());
  // Truncated: the file's end is cut off.
  const fs::path cut = dir_ / "cut.hdf5";
  fs::copy_file(shard, cut);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  EXPECT_NE(error_of([&] { BertShard(cut, 30522).read(0, 2); }).find("cut.hdf5"),
            std::string::npos);
  // A token beyond the vocabulary names the dataset and the row.
  BertRecords bad = hand_built();
  bad.input_ids[8 + 3] = 40000;
  write_bert_shard(shard, bad);
  const std::string token = error_of([&] { BertShard(shard, 30522).read(0, 2); });
  EXPECT_NE(token.find("dataset 'input_ids' row 1"), std::string::npos) << token;
  EXPECT_NE(token.find("40000"), std::string::npos) << token;
  // A dataset of another type or shape.
  if (!have_h5py()) GTEST_SKIP() << "h5py is not installed (python3-h5py)";
  ASSERT_EQ(run_python(dir_ / "spoil.py",
                       "import sys, h5py, numpy as np\n"
                       "f = h5py.File(sys.argv[1], 'a')\n"
                       "del f['input_ids']\n"
                       "f['input_ids'] = np.zeros((2, 8), 'float32')\n",
                       shard.string()),
            0);
  const std::string type = error_of([&] { BertShard(shard, 30522); });
  EXPECT_NE(type.find("dataset 'input_ids': expected int32 [N, L], found floats"),
            std::string::npos)
      << type;
  fs::remove(cut);
  write_bert_shard(cut, hand_built());
  ASSERT_EQ(run_python(dir_ / "spoil2.py",
                       "import sys, h5py, numpy as np\n"
                       "g = h5py.File(sys.argv[1], 'a')\n"
                       "del g['next_sentence_labels']\n"
                       "g['next_sentence_labels'] = np.zeros((3,), 'int8')\n",
                       cut.string()),
            0);
  const std::string rows = error_of([&] { BertShard(cut, 30522); });
  EXPECT_NE(rows.find("'next_sentence_labels': expected [N] with N = 2"), std::string::npos)
      << rows;
}

TEST_F(Hdf5DatasetsTest, GenericFilesRoundTripThroughH5py) {
  SampleSpec spec{TaskKind::kClassification, {2, 3}, 4, 0, 0, 0};
  fs::create_directories(dir_ / "train");
  std::vector<float> x(5 * 6);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5f * static_cast<float>(i);
  write_generic_hdf5(dir_ / "train" / "a.h5", {2, 3}, x, {0, 1, 2, 3, 1});
  const GenericHdf5Dataset data(dir_.string(), spec, 1);
  const Batch held = data.read(DataStream::kHeldOut, 3, 2, BatchPart::kBoth);
  EXPECT_EQ(held.inputs.at("x").sizes(), (std::vector<std::int64_t>{2, 2, 3}));
  EXPECT_EQ(held.inputs.at("x")[0][1][2].item<float>(), 0.5f * (3 * 6 + 5));
  EXPECT_EQ(held.targets.at("labels")[1].item<std::int64_t>(), 1);
  const Batch epoch = data.read(DataStream::kTrain, 0, 5, BatchPart::kTargets);
  EXPECT_EQ(epoch.targets.at("labels").sum().item<std::int64_t>(), 7) << "each record once";

  if (!have_h5py()) GTEST_SKIP() << "h5py is not installed (python3-h5py)";
  ASSERT_EQ(
      run_python(dir_ / "gen.py",
                 "import sys, h5py, numpy as np\n"
                 "f = h5py.File(sys.argv[1], 'r')\n"
                 "assert f['x'].dtype == 'float32' and f['x'].shape == (5, 2, 3)\n"
                 "assert f['x'][4, 1, 2] == 0.5 * 29 and list(f['y']) == [0, 1, 2, 3, 1]\n"
                 "g = h5py.File(sys.argv[2], 'w')\n"
                 "g['x'] = np.full((2, 2, 3), 7, 'float32')\n"
                 "g['y'] = np.array([4, 0], 'int32')\n",
                 (dir_ / "train" / "a.h5").string() + " " + (dir_ / "train" / "b.h5").string()),
      0);
  // b.h5 (written by h5py) follows a.h5; its first row has label 4, beyond the 4 classes. A file
  // is read whole when first touched, so any of its rows names the bad one.
  const GenericHdf5Dataset both(dir_.string(), spec, 1);
  const std::string label =
      error_of([&] { both.read(DataStream::kHeldOut, 6, 1, BatchPart::kBoth); });
  EXPECT_NE(label.find("b.h5: dataset 'y' row 0: label 4, expected 0..3"), std::string::npos)
      << label;
  EXPECT_EQ(both.read(DataStream::kHeldOut, 4, 1, BatchPart::kBoth)
                .targets.at("labels")[0]
                .item<std::int64_t>(),
            1)
      << "a.h5 still reads";
  spec.input_shape = {3, 2};
  EXPECT_NE(error_of([&] {
              GenericHdf5Dataset(dir_.string(), spec, 1);
            }).find("samples of shape [2, 3], but the model reads [3, 2]"),
            std::string::npos);
}

}  // namespace
}  // namespace repipe
