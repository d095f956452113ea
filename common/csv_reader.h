// common/csv_reader.h: a CSV table read against the header its format expects, with typed cells
// and errors that name the file, the line and the column.
//
// The reader is strict, as a file format's reader should be: the first line must be the expected
// header exactly (the header is the format's version), every row has as many cells as the
// header, and a cell read as a number must be all number. It reads what CsvWriter writes
// (quoted cells included); blank lines are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace repipe {

class CsvTable;

// One row of a CsvTable; cells are looked up by their column's name.
class CsvRow {
 public:
  CsvRow(const CsvTable& table, std::size_t index) : table_(&table), index_(index) {}

  std::size_t line() const;  // 1-based line in the file (the header is line 1)

  const std::string& text(const std::string& column) const;
  // A finite double written the way strtod reads it ("1", "0.25", "-1", "2.5e-07").
  double number(const std::string& column) const;
  // A whole integer ("12", "-3"); "1.0" is not one.
  std::int64_t integer(const std::string& column) const;

  // Throws UsageError("file:line: column NAME: expected EXPECTED, got 'CELL'").
  [[noreturn]] void fail(const std::string& column, const std::string& expected) const;

 private:
  const CsvTable* table_;
  std::size_t index_;
};

class CsvTable {
 public:
  // Reads `path`, whose first line must be `expected_header`. `what` names the kind of file in
  // messages ("interference dataset"). A missing file, another header, a row with the wrong
  // number of cells or an unbalanced quote is a UsageError naming the file and the line.
  static CsvTable read(const std::string& path, const std::vector<std::string>& expected_header,
                       const std::string& what);

  const std::string& path() const { return path_; }
  const std::vector<std::string>& header() const { return header_; }
  std::size_t rows() const { return cells_.size(); }
  CsvRow row(std::size_t index) const { return CsvRow(*this, index); }

 private:
  friend class CsvRow;
  std::size_t column_index(const std::string& column) const;

  std::string path_;
  std::vector<std::string> header_;
  std::map<std::string, std::size_t> column_of_name_;
  std::vector<std::vector<std::string>> cells_;  // [row][column]
  std::vector<std::size_t> lines_;               // [row]: its line in the file
};

// Splits one CSV line into cells, undoing csv_escape's quotes; false if a quote is unbalanced.
bool split_csv_line(const std::string& line, std::vector<std::string>& cells);

}  // namespace repipe
