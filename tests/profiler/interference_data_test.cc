// Tests of the interference dataset's CSV: a byte-exact round trip, every field read back, the
// predictor's features taken from the right columns, and errors that name file, line and column.
#include "profiler/interference_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/csv_reader.h"
#include "common/csv_writer.h"
#include "common/error.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

void write_dataset(const fs::path& path, const std::vector<InterferenceRecord>& records) {
  CsvWriter writer(path, interference_csv_header());
  for (const InterferenceRecord& r : records) {
    const std::vector<std::string> cells = interference_csv_cells(r);
    writer.write_row(std::vector<CsvCell>(cells.begin(), cells.end()));
  }
}

// Every field different, with values that stress the number format.
InterferenceRecord hand_built_record() {
  InterferenceRecord r;
  r.probe = "mlp[0-2]@b64";
  r.model = "odd,name \"quoted\"";  // CsvWriter quotes it; the reader must undo that
  r.first_block = 3;
  r.last_block = 7;
  r.batch_size = 4294967296;  // > 32 bits
  r.kind = "memory";
  r.intensity = 0.1;
  r.corunners = 2;
  r.placement = "other";
  r.repeat = 4;
  ProbeFeatures& p = r.probe_features;
  p.gflop = 1.0 / 3.0;
  p.mbytes = 123456.789;
  p.mparams = 2.5e-07;
  p.count_linear = 11;
  p.count_conv = 12;
  p.count_norm = 13;
  p.count_activation = 14;
  p.count_pool = 15;
  p.count_attention = 16;
  p.count_embedding = 17;
  p.alone_ms = 41.25;
  p.gflops = 1e300;
  p.gbps = 0.30000000000000004;
  LoadFeatures& l = r.load;
  l.cpu_util = 0.875;
  l.probe_core_util = 0.5;
  l.run_queue = 3.75;
  l.ctx_switches_per_s = 98765.4321;
  l.compute_fraction = 0.625;
  l.memory_fraction = 0.4375;
  l.llc_misses_per_s = -1;  // no hardware counters
  r.corunner_gflops = 17.5;
  r.corunner_gbps = 9.25;
  r.peak_gbps = 25.5;
  r.deinfer_own_gl = 1234.5;
  r.deinfer_corunner_gl = 6789.25;
  r.colocated_ms = 66.0;
  r.slowdown = 66.0 / 41.25;
  return r;
}

class InterferenceDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("repipe_interference_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The message of the UsageError that loading `text` as a dataset throws.
  std::string load_error(const std::string& text) {
    const fs::path path = dir_ / "data.csv";
    write_text(path, text);
    try {
      load_interference_csv(path.string());
    } catch (const UsageError& error) {
      return error.what();
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return "";
  }

  // A valid data line whose cell `column` is replaced by `cell`.
  std::string line_with(const std::string& column, const std::string& cell) {
    std::vector<std::string> cells = interference_csv_cells(hand_built_record());
    cells[1] = "mlp";  // no quoting, so the line splits at commas
    const std::vector<std::string> header = interference_csv_header();
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      line += (i ? "," : "") + (header[i] == column ? cell : cells[i]);
    }
    return line + "\n";
  }

  fs::path dir_;
};

TEST_F(InterferenceDataTest, HeaderIsTheFormatsHeaderString) {
  const std::vector<std::string> header = interference_csv_header();
  ASSERT_EQ(header.size(), 37u);
  EXPECT_EQ(header.front(), "probe");
  EXPECT_EQ(header.back(), "slowdown");
  std::string joined;
  for (const std::string& name : header) joined += (joined.empty() ? "" : ",") + name;
  EXPECT_EQ(joined, kInterferenceCsvHeader);
  EXPECT_EQ(interference_csv_cells(hand_built_record()).size(), header.size());
}

TEST_F(InterferenceDataTest, RoundTripIsByteExactAndReadsEveryField) {
  InterferenceRecord second = hand_built_record();
  second.probe = "gpt2[1-1]@b2";
  second.model = "gpt2";
  second.kind = "none";
  second.placement = "";
  second.load.llc_misses_per_s = 5.5e9;
  second.slowdown = 1;
  const fs::path first_csv = dir_ / "first.csv";
  const fs::path second_csv = dir_ / "second.csv";
  write_dataset(first_csv, {hand_built_record(), second});
  const std::vector<InterferenceRecord> read = load_interference_csv(first_csv.string());
  ASSERT_EQ(read.size(), 2u);
  write_dataset(second_csv, read);
  EXPECT_EQ(read_text(first_csv), read_text(second_csv));
  EXPECT_NE(read_text(first_csv).find(",-1,"), std::string::npos) << "llc -1 written as -1";

  const InterferenceRecord expected = hand_built_record();
  const InterferenceRecord& r = read[0];
  EXPECT_EQ(r.probe, expected.probe);
  EXPECT_EQ(r.model, expected.model);
  EXPECT_EQ(r.first_block, 3);
  EXPECT_EQ(r.last_block, 7);
  EXPECT_EQ(r.batch_size, 4294967296);
  EXPECT_EQ(r.kind, "memory");
  EXPECT_EQ(r.intensity, 0.1);
  EXPECT_EQ(r.corunners, 2);
  EXPECT_EQ(r.placement, "other");
  EXPECT_EQ(r.repeat, 4);
  const ProbeFeatures& p = r.probe_features;
  EXPECT_EQ(p.gflop, 1.0 / 3.0);
  EXPECT_EQ(p.mbytes, 123456.789);
  EXPECT_EQ(p.mparams, 2.5e-07);
  EXPECT_EQ(p.count_linear, 11);
  EXPECT_EQ(p.count_conv, 12);
  EXPECT_EQ(p.count_norm, 13);
  EXPECT_EQ(p.count_activation, 14);
  EXPECT_EQ(p.count_pool, 15);
  EXPECT_EQ(p.count_attention, 16);
  EXPECT_EQ(p.count_embedding, 17);
  EXPECT_EQ(p.alone_ms, 41.25);
  EXPECT_EQ(p.gflops, 1e300);
  EXPECT_EQ(p.gbps, 0.30000000000000004);
  const LoadFeatures& l = r.load;
  EXPECT_EQ(l.cpu_util, 0.875);
  EXPECT_EQ(l.probe_core_util, 0.5);
  EXPECT_EQ(l.run_queue, 3.75);
  EXPECT_EQ(l.ctx_switches_per_s, 98765.4321);
  EXPECT_EQ(l.compute_fraction, 0.625);
  EXPECT_EQ(l.memory_fraction, 0.4375);
  EXPECT_EQ(l.llc_misses_per_s, -1);
  EXPECT_EQ(r.corunner_gflops, 17.5);
  EXPECT_EQ(r.corunner_gbps, 9.25);
  EXPECT_EQ(r.peak_gbps, 25.5);
  EXPECT_EQ(r.deinfer_own_gl, 1234.5);
  EXPECT_EQ(r.deinfer_corunner_gl, 6789.25);
  EXPECT_EQ(r.colocated_ms, 66.0);
  EXPECT_EQ(r.slowdown, 66.0 / 41.25);
  EXPECT_EQ(read[1].placement, "");
  EXPECT_EQ(read[1].load.llc_misses_per_s, 5.5e9);
}

// Each feature is the number in the CSV column of the same name: the order of
// predictor_features() and predictor_feature_names() agree with the file.
TEST_F(InterferenceDataTest, FeaturesComeFromTheColumnsTheyAreNamedAfter) {
  const InterferenceRecord r = hand_built_record();
  const std::vector<std::string> names = predictor_feature_names();
  const std::vector<double> features = predictor_features(r.probe_features, r.load);
  ASSERT_EQ(names.size(), features.size());
  EXPECT_EQ(names.size(), 20u);  // 13 probe features, 7 load features
  const std::vector<std::string> header = interference_csv_header();
  const std::vector<std::string> cells = interference_csv_cells(r);
  for (std::size_t j = 0; j < names.size(); ++j) {
    auto column = std::find(header.begin(), header.end(), names[j]);
    ASSERT_NE(column, header.end()) << names[j] << " is not a dataset column";
    EXPECT_EQ(std::stod(cells[static_cast<std::size_t>(column - header.begin())]), features[j])
        << names[j];
  }
  // Nothing about the interferer's identity or self-reported rates is a feature.
  for (const char* hidden : {"kind", "intensity", "corunners", "placement", "corunner_gflops",
                             "deinfer_own_gl", "slowdown", "colocated_ms"}) {
    EXPECT_EQ(std::find(names.begin(), names.end(), hidden), names.end()) << hidden;
  }
}

TEST_F(InterferenceDataTest, WrongHeaderNamesFileLineAndColumn) {
  std::string header = kInterferenceCsvHeader;
  header.replace(header.find("probe_gflop,"), 12, "probe_gflops_x,");
  const std::string message = load_error(header + "\n");
  EXPECT_NE(message.find("data.csv:1: column probe_gflop: expected the interference dataset "
                         "header, got 'probe_gflops_x'"),
            std::string::npos)
      << message;
  EXPECT_NE(load_error(std::string(kInterferenceCsvHeader) + ",extra\n").find("data.csv:1:"),
            std::string::npos);
  EXPECT_NE(load_error("").find("empty file"), std::string::npos);
}

TEST_F(InterferenceDataTest, BadCellsNameFileLineAndColumn) {
  const std::string header = std::string(kInterferenceCsvHeader) + "\n";
  const std::string good = line_with("", "");
  // The good line reads.
  write_text(dir_ / "data.csv", header + good + "\n" + good);
  EXPECT_EQ(load_interference_csv((dir_ / "data.csv").string()).size(), 2u);

  std::string message = load_error(header + good + line_with("slowdown", "fast"));
  EXPECT_NE(message.find("data.csv:3: column slowdown: expected a finite number, got 'fast'"),
            std::string::npos)
      << message;
  message = load_error(header + line_with("slowdown", "0"));
  EXPECT_NE(message.find("data.csv:2: column slowdown: expected a slowdown factor > 0"),
            std::string::npos)
      << message;
  message = load_error(header + line_with("corunners", "1.5"));
  EXPECT_NE(message.find("data.csv:2: column corunners: expected an integer, got '1.5'"),
            std::string::npos)
      << message;
  message = load_error(header + line_with("count_conv", "-2"));
  EXPECT_NE(message.find("data.csv:2: column count_conv: expected an integer >= 0, got '-2'"),
            std::string::npos)
      << message;
  message = load_error(header + line_with("load_cpu_util", ""));
  EXPECT_NE(message.find("column load_cpu_util: expected a finite number, got ''"),
            std::string::npos)
      << message;
  message = load_error(header + line_with("probe_gbps", "nan"));
  EXPECT_NE(message.find("column probe_gbps: expected a finite number, got 'nan'"),
            std::string::npos)
      << message;
  message = load_error(header + "mlp[0-2]@b64,mlp,0,2\n");
  EXPECT_NE(message.find("data.csv:2: expected 37 cells as in the header, got 4"),
            std::string::npos)
      << message;
  message = load_error(header + "\"unbalanced,quote\n");
  EXPECT_NE(message.find("data.csv:2: unbalanced quote"), std::string::npos) << message;
}

TEST_F(InterferenceDataTest, MissingFileIsAUsageError) {
  const std::string path = (dir_ / "absent.csv").string();
  try {
    load_interference_csv(path);
    FAIL() << "no error";
  } catch (const UsageError& error) {
    EXPECT_EQ(std::string(error.what()), path + ": no such interference dataset file");
  }
  try {
    load_interference_csv(dir_.string());
    FAIL() << "no error";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("not a file"), std::string::npos) << error.what();
  }
}

TEST(CsvReader, SplitsQuotedCellsAsCsvEscapeWritesThem) {
  std::vector<std::string> cells;
  ASSERT_TRUE(split_csv_line("a,\"b,c\",\"say \"\"hi\"\"\",,", cells));
  EXPECT_EQ(cells, (std::vector<std::string>{"a", "b,c", "say \"hi\"", "", ""}));
  EXPECT_FALSE(split_csv_line("\"open", cells));
}

}  // namespace
}  // namespace repipe
