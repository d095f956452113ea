// Tests of CSV output: escaping, row shape, and doubles that read back exactly.
#include "common/csv_writer.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

TEST(FormatDouble, ReadsBackBitForBit) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mantissa(-1, 1);
  std::uniform_int_distribution<int> exponent(-300, 300);
  for (int i = 0; i < 10000; ++i) {
    double value = std::ldexp(mantissa(rng), exponent(rng));
    EXPECT_EQ(std::strtod(format_double(value).c_str(), nullptr), value);
  }
  EXPECT_EQ(format_double(0.1), "0.1");
  EXPECT_EQ(format_double(2.0), "2");
}

TEST(TextFormat, GroupsThousandsAndNamesBytes) {
  EXPECT_EQ(group_thousands(0), "0");
  EXPECT_EQ(group_thousands(999), "999");
  EXPECT_EQ(group_thousands(25557032), "25,557,032");
  EXPECT_EQ(group_thousands(-1000), "-1,000");
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_duration_ms(0.84), "0.8 ms");
  EXPECT_EQ(human_duration_ms(1234), "1.23 s");
  EXPECT_EQ(human_duration_ms(95000), "1.6 min");
}

TEST(CsvEscape, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(csv_escape("plain"), "plain");
  EXPECT_EQ(csv_escape("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_escape("say \"hi\""), "\"say \"\"hi\"\"\"");
}

TEST(CsvWriter, WritesHeaderAndRows) {
  std::filesystem::path path = std::filesystem::temp_directory_path() / "repipe_csv_test" / "t.csv";
  {
    CsvWriter csv(path, {"step", "name", "value"});
    csv.write_row({std::int64_t{1}, std::string("x,y"), 0.25});
    csv.write_row({std::int64_t{2}, std::string(), 1e-300});
    EXPECT_THROW(csv.write_row({std::int64_t{3}}), InternalError);
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "step,name,value\n1,\"x,y\",0.25\n2,,1e-300\n");
  std::filesystem::remove_all(path.parent_path());
}

}  // namespace
}  // namespace repipe
