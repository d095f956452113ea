// Tests of the unit parsers the planner's flags use: every accepted form, and errors that name
// the flag.
#include "common/units.h"

#include <cmath>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

TEST(Units, Bytes) {
  EXPECT_EQ(parse_bytes("16GiB", "--memory"), 16LL << 30);
  EXPECT_EQ(parse_bytes("500MB", "--memory"), 500000000);
  EXPECT_EQ(parse_bytes("1.5KiB", "--memory"), 1536);
  EXPECT_EQ(parse_bytes("1024", "--memory"), 1024);
  EXPECT_EQ(parse_bytes("0", "--memory"), 0);
}

TEST(Units, Rates) {
  EXPECT_DOUBLE_EQ(parse_rate("12GB/s", "--bandwidth"), 12e9);
  EXPECT_DOUBLE_EQ(parse_rate("800MiB/s", "--bandwidth"), 800.0 * 1048576);
  EXPECT_TRUE(std::isinf(parse_rate("inf", "--bandwidth")));
}

TEST(Units, Seconds) {
  EXPECT_DOUBLE_EQ(parse_seconds("10us", "--latency"), 1e-5);
  EXPECT_DOUBLE_EQ(parse_seconds("2ms", "--latency"), 2e-3);
  EXPECT_DOUBLE_EQ(parse_seconds("0.5s", "--latency"), 0.5);
  EXPECT_DOUBLE_EQ(parse_seconds("0", "--latency"), 0);
}

TEST(Units, BadTextNamesTheFlagAndTheForms) {
  for (const char* text : {"", "GiB", "-1GiB", "16 GiB", "16gib", "12GB"}) {
    try {
      parse_bytes(text, "--memory");
      if (std::string(text) != "12GB") ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const UsageError& error) {
      EXPECT_NE(std::string(error.what()).find("--memory: expected a size"), std::string::npos);
    }
  }
  EXPECT_THROW(parse_rate("12GB", "--bandwidth"), UsageError);
  EXPECT_THROW(parse_rate("0GB/s", "--bandwidth"), UsageError);
  EXPECT_THROW(parse_seconds("10", "--latency"), UsageError);
  EXPECT_THROW(parse_seconds("10 us", "--latency"), UsageError);
}

}  // namespace
}  // namespace repipe
