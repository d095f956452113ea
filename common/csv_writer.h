// common/csv_writer.h: a CSV table written row by row; every row reaches the disk whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

namespace repipe {

// One cell: text, an integer, or a double written at round-trip precision. An empty string
// is an empty cell (a value that does not exist for this row, e.g. eval_loss between evals).
using CsvCell = std::variant<std::string, std::int64_t, double>;

class CsvWriter {
 public:
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> header);

  // Appends one row (as many cells as the header) and flushes it.
  void write_row(const std::vector<CsvCell>& cells);

  const std::vector<std::string>& header() const { return header_; }

 private:
  std::filesystem::path path_;
  std::vector<std::string> header_;
  std::ofstream out_;
};

// Quotes a cell when it holds a comma, quote or newline (RFC 4180).
std::string csv_escape(const std::string& text);

}  // namespace repipe
