// Tests of DLRM's binary rows: a hand-built row byte by byte, random access by row, truncated
// and corrupt files named with their offsets and fields, the planner's exact arithmetic, and
// generated files that match their plan, stay in range and depend on their seed alone.
#include "datasets/dlrm.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The 4 little-endian bytes of `value`, spelled out.
std::string le32(std::uint32_t value) {
  std::string bytes;
  for (int b = 0; b < 4; ++b) bytes += static_cast<char>((value >> (8 * b)) & 0xff);
  return bytes;
}

// A valid row whose every field differs by row and field.
DlrmRow row_number(int r) {
  DlrmRow row;
  row.label = r % 2;
  for (int d = 0; d < 13; ++d) row.dense[d] = 1000 * r + d;
  for (int c = 0; c < 26; ++c) row.categorical[c] = (r * 31 + c) % kDlrmCategoricalRanges[c];
  return row;
}

// Writes `files` under `dir` in `order` with `threads` threads; the bytes `wrote` reported.
std::int64_t write_planned(const DatasetWriter& writer, const std::vector<PlannedFile>& files,
                           const fs::path& dir, std::vector<std::size_t> order, int threads,
                           std::int64_t* largest_report = nullptr) {
  std::atomic<std::int64_t> reported{0}, largest{0};
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t k = next++; k < order.size(); k = next++) {
      const PlannedFile& file = files[order[k]];
      fs::create_directories((dir / file.name).parent_path());
      writer.write(file, dir / file.name, [&](std::int64_t bytes) {
        reported += bytes;
        std::int64_t seen = largest.load();
        while (bytes > seen && !largest.compare_exchange_weak(seen, bytes)) {
        }
      });
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (std::thread& t : pool) t.join();
  if (largest_report != nullptr) *largest_report = largest;
  return reported;
}

std::vector<std::size_t> in_order(std::size_t n, bool reversed) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = reversed ? n - 1 - i : i;
  return order;
}

class DlrmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("repipe-dlrm-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path dir_;
};

TEST_F(DlrmTest, AHandBuiltRowIsFortyLittleEndianInt32s) {
  DlrmRow row;
  row.label = 1;
  for (int d = 0; d < 13; ++d) row.dense[d] = 1000 * d + 7;
  for (int c = 0; c < 26; ++c) row.categorical[c] = c % kDlrmCategoricalRanges[c];
  row.categorical[0] = 9999999;
  DlrmRow second = row;
  second.label = 0;
  write_dlrm_rows(dir_ / "rows.bin", {row, second});
  const std::string bytes = read_bytes(dir_ / "rows.bin");
  ASSERT_EQ(bytes.size(), 320u);
  EXPECT_EQ(bytes.substr(0, 4), le32(1));                  // label
  EXPECT_EQ(bytes.substr(4, 4), le32(7));                  // dense 0
  EXPECT_EQ(bytes.substr(16, 4), std::string("\xbf\x0b\x00\x00", 4));  // dense 3 = 3007
  EXPECT_EQ(bytes.substr(52, 4), le32(12007));             // dense 12
  EXPECT_EQ(bytes.substr(56, 4), std::string("\x7f\x96\x98\x00", 4));  // categorical 0
  EXPECT_EQ(bytes.substr(84, 4), le32(7));                 // categorical 7
  EXPECT_EQ(bytes.substr(156, 4), le32(25));               // categorical 25, the row's end
  EXPECT_EQ(bytes.substr(160, 4), le32(0));                // the second row's label
  EXPECT_EQ(bytes.substr(164, 156), bytes.substr(4, 156));
  EXPECT_EQ(dlrm_row_count(dir_ / "rows.bin"), 2);
  const std::vector<DlrmRow> back = read_dlrm_rows(dir_ / "rows.bin", 0, 2);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0], row);
  EXPECT_EQ(back[1], second);
}

TEST_F(DlrmTest, FieldsAreNamedInFileOrder) {
  EXPECT_EQ(dlrm_field_name(0), "label");
  EXPECT_EQ(dlrm_field_name(4), "dense 3");
  EXPECT_EQ(dlrm_field_name(13), "dense 12");
  EXPECT_EQ(dlrm_field_name(14), "categorical 0");
  EXPECT_EQ(dlrm_field_name(21), "categorical 7");
  EXPECT_EQ(dlrm_field_name(39), "categorical 25");
}

TEST_F(DlrmTest, RowsAreReadByRandomAccess) {
  std::vector<DlrmRow> rows;
  for (int r = 0; r < 50; ++r) rows.push_back(row_number(r));
  write_dlrm_rows(dir_ / "fifty.bin", rows);
  const std::vector<DlrmRow> middle = read_dlrm_rows(dir_ / "fifty.bin", 17, 5);
  EXPECT_EQ(middle, std::vector<DlrmRow>(rows.begin() + 17, rows.begin() + 22));
  const DlrmRowFile file(dir_ / "fifty.bin");
  EXPECT_EQ(file.rows(), 50);
  EXPECT_EQ(file.read(49, 1).front(), rows[49]);
  EXPECT_TRUE(file.read(50, 0).empty());
  EXPECT_NE(error_of([&] { file.read(48, 3); })
                .find("fifty.bin: rows 48 to 50 asked, the file has 50 rows (0 to 49)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { file.read(-1, 1); }).find("fifty.bin: rows -1 to -1 asked"),
            std::string::npos);
  // Writing an out-of-range row is the caller's bug.
  DlrmRow bad = rows[0];
  bad.label = 3;
  EXPECT_THROW(write_dlrm_rows(dir_ / "bad.bin", {bad}), InternalError);
}

TEST_F(DlrmTest, TruncatedFilesNameTheSizeAndWhereTheLastRowBreaksOff) {
  std::vector<DlrmRow> rows = {row_number(0), row_number(1), row_number(2)};
  write_dlrm_rows(dir_ / "three.bin", rows);
  write_bytes(dir_ / "cut.bin", read_bytes(dir_ / "three.bin") + std::string(40, '\0'));
  const std::string expected =
      "cut.bin: 520 bytes is not a whole number of 160-byte DLRM rows (row 3 at offset 480 has "
      "40 bytes)";
  EXPECT_NE(error_of([&] { dlrm_row_count(dir_ / "cut.bin"); }).find(expected), std::string::npos);
  EXPECT_NE(error_of([&] { read_dlrm_rows(dir_ / "cut.bin", 0, 1); }).find(expected),
            std::string::npos);
  EXPECT_NE(error_of([&] { dlrm_row_count(dir_ / "absent.bin"); }).find("absent.bin"),
            std::string::npos);
  write_bytes(dir_ / "empty.bin", "");
  EXPECT_EQ(dlrm_row_count(dir_ / "empty.bin"), 0);
}

TEST_F(DlrmTest, CorruptFieldsNameTheFileOffsetFieldAndRange) {
  std::vector<DlrmRow> rows = {row_number(0), row_number(1), row_number(2)};
  write_dlrm_rows(dir_ / "good.bin", rows);
  const std::string good = read_bytes(dir_ / "good.bin");
  auto spoil = [&](const std::string& name, std::size_t offset, std::uint32_t value) {
    std::string bytes = good;
    bytes.replace(offset, 4, le32(value));
    write_bytes(dir_ / name, bytes);
    return error_of([&] { read_dlrm_rows(dir_ / name, 0, 3); });
  };
  EXPECT_NE(spoil("label.bin", 320, 2).find("label.bin: offset 320 (row 2, label): got 2, "
                                            "expected 0 or 1"),
            std::string::npos);
  EXPECT_NE(spoil("dense.bin", 160 + 16, static_cast<std::uint32_t>(-5))
                .find("dense.bin: offset 176 (row 1, dense 3): got -5, expected a non-negative "
                      "count"),
            std::string::npos);
  // Categorical 7's range is 1,543: 1,543 is one past its end.
  EXPECT_NE(spoil("categorical.bin", 84, 1543)
                .find("categorical.bin: offset 84 (row 0, categorical 7): got 1543, expected "
                      "0..1542 (range 1,543)"),
            std::string::npos);
  EXPECT_NE(spoil("negative.bin", 160 + 4 * 39, static_cast<std::uint32_t>(-1))
                .find("negative.bin: offset 316 (row 1, categorical 25): got -1, expected 0..35"),
            std::string::npos);
  // Only the rows read are checked: rows 0 and 1 of label.bin are fine.
  EXPECT_EQ(read_dlrm_rows(dir_ / "label.bin", 0, 2).size(), 2u);
}

TEST_F(DlrmTest, SamplesPlanFilesOfAtMostAMebiRowAndAFifthHeldOut) {
  const std::vector<PlannedFile> files = make_dlrm_writer()->plan({0, 3000000}, 11);
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].name, "train/part-00000.bin");
  EXPECT_EQ(files[1].name, "train/part-00001.bin");
  EXPECT_EQ(files[2].name, "train/part-00002.bin");
  EXPECT_EQ(files[3].name, "test/part-00000.bin");
  EXPECT_EQ(files[0].samples, 1048576);
  EXPECT_EQ(files[1].samples, 1048576);
  EXPECT_EQ(files[2].samples, 3000000 - 2 * 1048576);
  EXPECT_EQ(files[3].samples, 600000);
  EXPECT_EQ(files[1].first_sample, 1048576);
  EXPECT_EQ(files[2].first_sample, 2097152);
  EXPECT_EQ(files[3].first_sample, 0);
  std::set<std::uint64_t> seeds;
  for (const PlannedFile& f : files) {
    EXPECT_EQ(f.bytes, f.samples * 160);
    seeds.insert(f.seed);
  }
  EXPECT_EQ(seeds.size(), files.size());  // every file its own stream
  EXPECT_NE(error_of([&] { make_dlrm_writer()->plan({0, 4}, 11); }).find("--samples 5"),
            std::string::npos);
}

TEST_F(DlrmTest, ByteTargetsAreExactToOneRowAndSplitFiveToOne) {
  for (const std::int64_t target : {320LL, 1000LL, 12345678LL, 1000000007LL, 400000000000LL}) {
    const std::vector<PlannedFile> files = make_dlrm_writer()->plan({target, 0}, 3);
    std::int64_t bytes = 0, train = 0, test = 0;
    for (const PlannedFile& f : files) {
      bytes += f.bytes;
      (f.name.starts_with("train/") ? train : test) += f.samples;
      EXPECT_LE(f.samples, 1048576);
    }
    EXPECT_LE(bytes, target);
    EXPECT_LT(target - bytes, 160) << target;
    EXPECT_EQ(bytes, (train + test) * 160);
    EXPECT_GE(test, 1);
    EXPECT_LE(std::abs(train - 5 * test), 5) << train << " : " << test;
  }
  EXPECT_NE(error_of([&] { make_dlrm_writer()->plan({319, 0}, 3); }).find("--size 320 bytes"),
            std::string::npos);
}

TEST_F(DlrmTest, WrittenFilesMatchTheirPlanAndStayInRange) {
  const auto writer = make_dlrm_writer(3000);
  const std::vector<PlannedFile> files = writer->plan({0, 10000}, 5);
  ASSERT_EQ(files.size(), 5u);  // 3000 + 3000 + 3000 + 1000 training rows, 2000 test rows
  std::int64_t planned = 0, largest_report = 0;
  for (const PlannedFile& f : files) planned += f.bytes;
  const std::int64_t reported =
      write_planned(*writer, files, dir_, in_order(files.size(), false), 1, &largest_report);
  EXPECT_EQ(reported, planned);
  EXPECT_LE(largest_report, 1 << 20);  // progress in chunks of about a MiB at most
  std::int64_t zeros = 0, ones = 0, dense_max = 0;
  std::array<std::int32_t, 26> categorical_max{};
  std::set<std::int32_t> small_category;
  for (const PlannedFile& f : files) {
    EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(dir_ / f.name)), f.bytes) << f.name;
    for (const DlrmRow& row : read_dlrm_rows(dir_ / f.name, 0, f.samples)) {  // checks ranges
      (row.label == 0 ? zeros : ones) += 1;
      for (std::int32_t d : row.dense) dense_max = std::max<std::int64_t>(dense_max, d);
      for (int c = 0; c < 26; ++c) {
        categorical_max[c] = std::max(categorical_max[c], row.categorical[c]);
      }
      small_category.insert(row.categorical[5]);
    }
  }
  // Uniform draws reach the top of every range (12,000 rows).
  EXPECT_GT(zeros, 5000);
  EXPECT_GT(ones, 5000);
  EXPECT_LT(dense_max, kDlrmDenseLimit);
  EXPECT_GT(dense_max, kDlrmDenseLimit * 99 / 100);
  for (int c = 0; c < 26; ++c) {
    EXPECT_GE(categorical_max[c], kDlrmCategoricalRanges[c] * 9 / 10) << "categorical " << c;
  }
  EXPECT_EQ(small_category, (std::set<std::int32_t>{0, 1, 2}));
}

TEST_F(DlrmTest, TheSameSeedWritesTheSameBytesInAnyOrder) {
  const auto writer = make_dlrm_writer(10000);  // files of two chunks and a half
  const std::vector<PlannedFile> files = writer->plan({0, 25000}, 42);
  write_planned(*writer, files, dir_ / "forward", in_order(files.size(), false), 1);
  write_planned(*writer, files, dir_ / "backward", in_order(files.size(), true), 2);
  std::set<std::string> contents;
  for (const PlannedFile& f : files) {
    const std::string bytes = read_bytes(dir_ / "forward" / f.name);
    EXPECT_EQ(bytes, read_bytes(dir_ / "backward" / f.name)) << f.name;
    contents.insert(bytes);
  }
  EXPECT_EQ(contents.size(), files.size());  // no two files alike

  // A file's bytes are its seed's alone: another name and first sample change nothing, and a
  // shorter file of the same seed is a prefix.
  PlannedFile renamed = files[0];
  renamed.name = "elsewhere.bin";
  renamed.first_sample = 12345;
  renamed.samples = 7000;
  renamed.bytes = 7000 * 160;
  writer->write(renamed, dir_ / "elsewhere.bin", [](std::int64_t) {});
  EXPECT_EQ(read_bytes(dir_ / "elsewhere.bin"),
            read_bytes(dir_ / "forward" / files[0].name).substr(0, 7000 * 160));

  const std::vector<PlannedFile> other = writer->plan({0, 25000}, 43);
  write_planned(*writer, other, dir_ / "other", in_order(other.size(), false), 1);
  EXPECT_NE(read_bytes(dir_ / "other" / other[0].name), read_bytes(dir_ / "forward" / files[0].name));
}

}  // namespace
}  // namespace repipe
