// inference/toml_fields.h: typed reads of a TOML table's keys for the allocator's files
// (model.toml, load.toml, plan.toml, interference.toml), each error one line naming the file, the
// line, the key and what was expected: "load.toml:7: models[1].rate: expected a number >= 0,
// got -3". Included by .cc files only (it brings toml++).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace repipe {

// Parses `path`; a missing file or invalid TOML is a UsageError naming it (`what`: the kind of
// file, for the message).
toml::table parse_toml_file(const std::string& path, const std::string& what);

// A TOML text as a basic string ("..."), escaped; a double in its shortest exact form that reads
// back as a TOML float.
std::string toml_quoted(const std::string& text);
std::string toml_float(double value);

// The keys of one table: `prefix` names it in messages ("models[1]."; "" for the root).
class TomlFields {
 public:
  TomlFields(std::string path, const toml::table& table, std::string prefix = "");

  bool has(const std::string& key) const { return table_->get(key) != nullptr; }
  std::string text(const std::string& key) const;
  double number(const std::string& key) const;  // an integer or a float
  std::int64_t integer(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::vector<std::int64_t> integers(const std::string& key) const;  // an array of integers
  std::vector<double> numbers(const std::string& key) const;         // an array of numbers
  // A sub-table (key = { ... } or [key]).
  TomlFields table(const std::string& key) const;
  // An array of tables ([[key]]); `at_least` of them.
  std::vector<TomlFields> tables(const std::string& key, std::size_t at_least) const;

  // Keys not in `allowed` are a UsageError (a misspelt key would otherwise be ignored).
  void allow_only(const std::vector<std::string>& allowed) const;

  // "load.toml:7: models[1].rate: expected EXPECTED" (the key's line, else the table's).
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;

  const std::string& path() const { return path_; }

 private:
  const toml::node& required(const std::string& key, const std::string& expected) const;
  std::string where(const std::string& key) const;

  std::string path_;
  const toml::table* table_;
  std::string prefix_;
};

}  // namespace repipe
