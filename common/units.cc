#include "common/units.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

#include "common/error.h"

namespace repipe {
namespace {

// Splits "12.5GiB" into 12.5 and "GiB"; false if there is no leading non-negative number.
bool split_number(const std::string& text, double& number, std::string& unit) {
  const char* begin = text.c_str();
  char* end = nullptr;
  number = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(number) || number < 0) return false;
  unit = std::string(end);
  return true;
}

double scaled(const std::string& text, const std::string& what,
              const std::map<std::string, double>& units, const std::string& forms) {
  double number = 0;
  std::string unit;
  if (split_number(text, number, unit)) {
    auto it = units.find(unit);
    if (it != units.end()) return number * it->second;
  }
  throw UsageError(what + ": expected " + forms + ", got '" + text + "'");
}

const std::map<std::string, double>& byte_units() {
  static const std::map<std::string, double> units = {{"", 1},
                                                      {"B", 1},
                                                      {"kB", 1e3},
                                                      {"KB", 1e3},
                                                      {"MB", 1e6},
                                                      {"GB", 1e9},
                                                      {"TB", 1e12},
                                                      {"KiB", 1024.0},
                                                      {"MiB", 1048576.0},
                                                      {"GiB", 1073741824.0},
                                                      {"TiB", 1099511627776.0}};
  return units;
}

}  // namespace

std::int64_t parse_bytes(const std::string& text, const std::string& what) {
  return static_cast<std::int64_t>(std::llround(
      scaled(text, what, byte_units(), "a size such as 16GiB, 500MB or 1024 (bytes)")));
}

double parse_rate(const std::string& text, const std::string& what) {
  if (text == "inf") return std::numeric_limits<double>::infinity();
  std::map<std::string, double> units;
  for (const auto& [unit, factor] : byte_units()) {
    if (!unit.empty()) units[unit + "/s"] = factor;
  }
  double rate = scaled(text, what, units, "a bandwidth such as 12GB/s, 800MiB/s or inf");
  if (rate <= 0) throw UsageError(what + ": expected a positive bandwidth, got '" + text + "'");
  return rate;
}

double parse_seconds(const std::string& text, const std::string& what) {
  static const std::map<std::string, double> units = {
      {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}};
  if (text == "0") return 0;
  return scaled(text, what, units, "a duration such as 10us, 2ms or 0.5s");
}

}  // namespace repipe
