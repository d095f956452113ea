// inference/trace.cc: the four trace sources, read strictly (common/csv_reader.h).
#include "inference/trace.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "common/csv_reader.h"
#include "common/error.h"

namespace repipe {
namespace {

constexpr int kAzureMinutes = 1440;
// DynWork's Azure reduction (generate_utils.py: azure_offset, azure_hashfunction_num, head(400)).
constexpr std::size_t kAzureOffset = 1500;
constexpr std::size_t kAzureFunctions = 11;
constexpr std::size_t kAzureKeptMinutes = 400;

void require_some_load(const Trace& trace, const std::string& where) {
  if (trace.count.empty()) throw UsageError(where + ": an empty trace (no rows)");
  if (std::all_of(trace.count.begin(), trace.count.end(), [](double c) { return c <= 0; })) {
    throw UsageError(where + ": every count is 0; a trace needs some requests");
  }
}

double count_cell(const CsvRow& row, const std::string& column) {
  const double value = row.number(column);
  if (value < 0) row.fail(column, "a count >= 0");
  return value;
}

Trace worldcup_trace(const std::string& repo_root) {
  const std::string path = (std::filesystem::path(repo_root) / kWorldcupWindowPath).string();
  CsvTable table = CsvTable::read(path, {"period", "count"}, "WorldCup98 trace");
  Trace trace{"worldcup", {}, 1};
  for (std::size_t r = 0; r < table.rows(); ++r)
    trace.count.push_back(count_cell(table.row(r), "count"));
  require_some_load(trace, path);
  return trace;
}

Trace azure_trace(const std::string& path) {
  std::vector<std::string> header = {"HashOwner", "HashApp", "HashFunction", "Trigger"};
  for (int m = 1; m <= kAzureMinutes; ++m) header.push_back(std::to_string(m));
  CsvTable table = CsvTable::read(path, header, "Azure Functions invocations file");
  std::vector<std::vector<double>> rows;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    std::vector<double>& minutes = rows.emplace_back();
    for (int m = 1; m <= kAzureMinutes; ++m) {
      minutes.push_back(count_cell(table.row(r), std::to_string(m)));
    }
  }
  if (rows.empty()) throw UsageError(path + ": an empty trace (no rows)");
  // Busiest functions first; ties keep the file's order, so the pick is deterministic.
  std::vector<double> total;
  for (const auto& minutes : rows)
    total.push_back(std::accumulate(minutes.begin(), minutes.end(), 0.0));
  std::vector<std::size_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return total[a] > total[b]; });
  // DynWork's offset needs ~1,500+ functions (a real day has ~50,000); a smaller file starts at
  // its busiest function and spreads the 11 picks over what it has.
  const std::size_t offset = rows.size() > kAzureOffset ? kAzureOffset : 0;
  const std::size_t step = std::max<std::size_t>(1, (rows.size() - offset) / kAzureFunctions);
  Trace trace{"azure:" + path, std::vector<double>(kAzureKeptMinutes, 0.0), 60};
  for (std::size_t i = 0; i < kAzureFunctions; ++i) {
    const std::size_t pick = offset + step * i;
    if (pick >= rows.size()) break;
    for (std::size_t m = 0; m < kAzureKeptMinutes; ++m) trace.count[m] += rows[order[pick]][m];
  }
  require_some_load(trace, path);
  return trace;
}

Trace time_count_trace(const std::string& path) {
  CsvTable table = CsvTable::read(path, {"time", "count"}, "trace (time,count)");
  Trace trace{path, {}, 1};
  std::vector<double> time;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const CsvRow row = table.row(r);
    time.push_back(row.number("time"));
    trace.count.push_back(count_cell(row, "count"));
    if (r > 0 && !(time[r] > time[r - 1])) row.fail("time", "a time after the previous row's");
  }
  require_some_load(trace, path);
  if (time.size() > 1)
    trace.period_s = (time.back() - time.front()) / static_cast<double>(time.size() - 1);
  return trace;
}

}  // namespace

Trace load_trace(const std::string& source, const std::string& repo_root) {
  if (source == "worldcup") return worldcup_trace(repo_root);
  if (source == "constant") return Trace{"constant", {1.0}, 1};
  if (source.rfind("azure:", 0) == 0) return azure_trace(source.substr(6));
  if (source.size() > 4 && source.substr(source.size() - 4) == ".csv")
    return time_count_trace(source);
  throw UsageError("flag --trace: expected worldcup, azure:FILE, FILE.csv or constant, got '" +
                   source + "'");
}

}  // namespace repipe
