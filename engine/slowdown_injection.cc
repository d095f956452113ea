#include "engine/slowdown_injection.h"

#include <cmath>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

constexpr const char* kForm = "rank=R,factor=F,from=STEP,to=STEP (F >= 1, from < to)";

SlowdownInjection parse_one(const std::string& spec) {
  auto fail = [&](const std::string& why) -> SlowdownInjection {
    throw UsageError("--inject: " + why + " in '" + spec + "'; expected " + kForm);
  };
  std::map<std::string, std::string> fields;
  std::istringstream parts(spec);
  for (std::string part; std::getline(parts, part, ',');) {
    const std::size_t equals = part.find('=');
    if (equals == std::string::npos) return fail("'" + part + "' is not key=value");
    fields[part.substr(0, equals)] = part.substr(equals + 1);
  }
  for (const char* key : {"rank", "factor", "from", "to"}) {
    if (fields.count(key) == 0) return fail(std::string("no ") + key);
  }
  if (fields.size() != 4) return fail("an unknown field");
  SlowdownInjection injection;
  try {
    std::size_t used = 0;
    injection.rank = std::stoi(fields["rank"], &used);
    if (used != fields["rank"].size()) return fail("a bad rank");
    injection.factor = std::stod(fields["factor"], &used);
    if (used != fields["factor"].size()) return fail("a bad factor");
    injection.from = std::stoll(fields["from"], &used);
    if (used != fields["from"].size()) return fail("a bad from");
    injection.to = std::stoll(fields["to"], &used);
    if (used != fields["to"].size()) return fail("a bad to");
  } catch (const std::logic_error&) {
    return fail("a field that is not a number");
  }
  if (injection.rank < 0) return fail("a negative rank");
  if (!(injection.factor >= 1) || !std::isfinite(injection.factor)) return fail("a factor below 1");
  if (injection.from < 1 || injection.to <= injection.from) return fail("an empty step range");
  return injection;
}

}  // namespace

std::vector<SlowdownInjection> parse_slowdown_injections(const std::string& text) {
  std::vector<SlowdownInjection> injections;
  for (const std::string& spec : split_specs(text)) injections.push_back(parse_one(spec));
  return injections;
}

double slowdown_factor(const std::vector<SlowdownInjection>& injections, int rank,
                       std::int64_t step) {
  double factor = 1;
  for (const SlowdownInjection& i : injections) {
    if (i.rank == rank && step >= i.from && step < i.to) factor *= i.factor;
  }
  return factor;
}

}  // namespace repipe
