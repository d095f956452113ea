#include "common/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "common/error.h"

namespace repipe {

std::string format_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  REPIPE_CHECK(ec == std::errc(), "to_chars failed");
  return std::string(buffer, end);
}

std::string format_fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string group_thousands(std::int64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  std::size_t first = value < 0 ? 1 : 0;  // after the sign
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > first && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string human_bytes(double bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (std::fabs(bytes) >= 1024 && i < 4) {
    bytes /= 1024;
    ++i;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), i == 0 ? "%.0f %s" : "%.1f %s", bytes, kNames[i]);
  return buffer;
}

std::string human_duration_ms(double ms) {
  char buffer[32];
  if (std::fabs(ms) < 1000) {
    std::snprintf(buffer, sizeof(buffer), "%.1f ms", ms);
  } else if (std::fabs(ms) < 60e3) {
    std::snprintf(buffer, sizeof(buffer), "%.2f s", ms / 1e3);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.1f min", ms / 60e3);
  }
  return buffer;
}

std::vector<std::string> split_specs(const std::string& text) {
  std::vector<std::string> specs;
  std::string spec;
  for (char c : text + ";") {
    if (c == ';' || c == '\n') {
      if (!spec.empty()) specs.push_back(spec);
      spec.clear();
    } else if (c != ' ') {
      spec += c;
    }
  }
  return specs;
}

}  // namespace repipe
