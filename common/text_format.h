// common/text_format.h: numbers and sizes as text, the same way in every file repipe writes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace repipe {

// Shortest text that reads back to exactly the same double ("0.1", "2.5e-07", "nan").
std::string format_double(double value);

// 25557032 -> "25,557,032"; for tables meant for people.
std::string group_thousands(std::int64_t value);

// 1536 -> "1.5 KiB"; for tables meant for people.
std::string human_bytes(double bytes);

}  // namespace repipe
