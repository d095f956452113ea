// common/units.h: quantities with units, as users type them on the command line.
//
//   parse_bytes("16GiB") = 17179869184, parse_bytes("500MB") = 5e8, parse_bytes("1024") = 1024
//   parse_rate("12GB/s") = 1.2e10 bytes/s, parse_rate("inf") = infinity
//   parse_seconds("10us") = 1e-5, parse_seconds("2ms"), parse_seconds("0.5s"), parse_seconds("0")
// Anything else is a UsageError naming `what` (the flag) and the accepted forms.
#pragma once

#include <cstdint>
#include <string>

namespace repipe {

std::int64_t parse_bytes(const std::string& text, const std::string& what);
double parse_rate(const std::string& text, const std::string& what);
double parse_seconds(const std::string& text, const std::string& what);

}  // namespace repipe
