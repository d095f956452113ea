// common/csv_reader.cc: the strict CSV table reader (see csv_reader.h).
#include "common/csv_reader.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "common/error.h"

namespace repipe {
namespace {

constexpr std::size_t kQuoteLimit = 100;  // characters of a bad cell or line quoted in an error

std::string quote_cell(const std::string& text) {
  if (text.size() > kQuoteLimit) return "'" + text.substr(0, kQuoteLimit) + "...'";
  return "'" + text + "'";
}

std::string joined(const std::vector<std::string>& cells) {
  std::string text;
  for (std::size_t i = 0; i < cells.size(); ++i) text += (i ? "," : "") + cells[i];
  return text;
}

[[noreturn]] void fail_at(const std::string& path, std::size_t line, const std::string& what) {
  throw UsageError(path + ":" + std::to_string(line) + ": " + what);
}

}  // namespace

bool split_csv_line(const std::string& line, std::vector<std::string>& cells) {
  cells.assign(1, std::string());
  bool in_quotes = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_quotes) {
      if (c != '"') {
        cells.back() += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';  // "" inside quotes is one quote
        ++i;
      } else {
        in_quotes = false;
      }
    } else if (c == ',') {
      cells.emplace_back();
    } else if (c == '"' && cells.back().empty()) {
      in_quotes = true;
    } else {
      cells.back() += c;
    }
  }
  return !in_quotes;
}

CsvTable CsvTable::read(const std::string& path, const std::vector<std::string>& expected_header,
                        const std::string& what) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) throw UsageError(path + ": no such " + what + " file");
  if (!std::filesystem::is_regular_file(path, error)) {
    throw UsageError(path + ": not a file (expected a " + what + " CSV)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot read the " + what + " (check its permissions)");

  CsvTable table;
  table.path_ = path;
  table.header_ = expected_header;
  for (std::size_t i = 0; i < expected_header.size(); ++i) {
    table.column_of_name_.emplace(expected_header[i], i);
  }
  std::string line;
  std::vector<std::string> cells;
  std::size_t line_number = 0;
  bool seen_header = false;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!seen_header) {
      seen_header = true;
      if (!split_csv_line(line, cells)) fail_at(path, 1, "unbalanced quote in the header");
      for (std::size_t i = 0; i < expected_header.size(); ++i) {
        const std::string got = i < cells.size() ? cells[i] : "";
        if (got != expected_header[i]) {
          fail_at(path, 1,
                  "column " + expected_header[i] + ": expected the " + what + " header, got " +
                      quote_cell(got) + " (the header must be exactly '" + joined(expected_header) +
                      "')");
        }
      }
      if (cells.size() > expected_header.size()) {
        fail_at(path, 1,
                "column " + cells[expected_header.size()] + ": expected the end of the " + what +
                    " header after '" + expected_header.back() + "', got another column");
      }
      continue;
    }
    if (line.empty()) continue;
    if (!split_csv_line(line, cells))
      fail_at(path, line_number, "unbalanced quote in " + quote_cell(line));
    if (cells.size() != expected_header.size()) {
      fail_at(path, line_number,
              "expected " + std::to_string(expected_header.size()) +
                  " cells as in the header, got " + std::to_string(cells.size()) + " in " +
                  quote_cell(line));
    }
    table.cells_.push_back(cells);
    table.lines_.push_back(line_number);
  }
  if (!seen_header) {
    throw UsageError(path + ": empty file (expected a " + what + " CSV starting with the header '" +
                     joined(expected_header) + "')");
  }
  return table;
}

std::size_t CsvTable::column_index(const std::string& column) const {
  auto it = column_of_name_.find(column);
  REPIPE_CHECK(it != column_of_name_.end(), "no column '" << column << "' in " << path_);
  return it->second;
}

std::size_t CsvRow::line() const {
  return table_->lines_[index_];
}

const std::string& CsvRow::text(const std::string& column) const {
  return table_->cells_[index_][table_->column_index(column)];
}

double CsvRow::number(const std::string& column) const {
  const std::string& cell = text(column);
  double value = 0;
  auto [end, error] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
  if (cell.empty() || error != std::errc() || end != cell.data() + cell.size() ||
      !std::isfinite(value)) {
    fail(column, "a finite number");
  }
  return value;
}

std::int64_t CsvRow::integer(const std::string& column) const {
  const std::string& cell = text(column);
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
  if (cell.empty() || error != std::errc() || end != cell.data() + cell.size()) {
    fail(column, "an integer");
  }
  return value;
}

void CsvRow::fail(const std::string& column, const std::string& expected) const {
  fail_at(table_->path_, line(),
          "column " + column + ": expected " + expected + ", got " + quote_cell(text(column)));
}

}  // namespace repipe
