// common/text_format.h: numbers and sizes as text, the same way in every file repipe writes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace repipe {

// Shortest text that reads back to exactly the same double ("0.1", "2.5e-07", "nan").
std::string format_double(double value);

// 3.14159, 2 -> "3.14": a fixed number of decimals, for tables meant for people.
std::string format_fixed(double value, int decimals);

// 25557032 -> "25,557,032"; for tables meant for people.
std::string group_thousands(std::int64_t value);

// 1536 -> "1.5 KiB"; for tables meant for people.
std::string human_bytes(double bytes);

// 0.8 -> "0.8 ms", 1234 -> "1.23 s", 95000 -> "1.6 min"; for lines meant for people.
std::string human_duration_ms(double ms);

// The specs of a repeatable flag: split at ';' and newlines, blanks dropped, empty parts skipped.
// "a=1, b=2;c=3\n" -> {"a=1,b=2", "c=3"}.
std::vector<std::string> split_specs(const std::string& text);

}  // namespace repipe
