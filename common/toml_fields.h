// common/toml_fields.h: typed reads of a TOML table's keys, each error one line naming the file,
// the line, the key and what was expected: "load.toml:7: models[1].rate: expected a number >= 0,
// got -3". Reads the allocator's files (model.toml, load.toml, plan.toml, interference.toml),
// training plans and pipeline files. Included by .cc files only (it brings toml++).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace repipe {

// Parses `path`; a missing file or invalid TOML is a UsageError naming it (`what`: the kind of
// file, for the message).
toml::table parse_toml_file(const std::string& path, const std::string& what);
// Parses `text`; invalid TOML is a UsageError naming `source` and the line.
toml::table parse_toml_text(std::string_view text, const std::string& source);

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
  // Arrays of integers, numbers or strings; `expected` names the array in messages, and a bad
  // element is reported at its own line as key[i].
  std::vector<std::int64_t> integers(const std::string& key,
                                     const std::string& expected = "an array of integers") const;
  std::vector<double> numbers(const std::string& key,
                              const std::string& expected = "an array of numbers") const;
  std::vector<std::string> texts(const std::string& key,
                                 const std::string& expected = "an array of strings") const;
  // A sub-table (key = { ... } or [key]).
  TomlFields table(const std::string& key) const;
  // An array of tables ([[key]]); `at_least` of them.
  std::vector<TomlFields> tables(const std::string& key, std::size_t at_least) const;

  // The key `version` must be `supported`, else "plan.toml:1: version: plan format version 2 is
  // not supported; this repipe reads version 1" (`format`: "plan format"). Check it first: a
  // newer file should say so, not trip over a key added since.
  void check_version(std::int64_t supported, const std::string& format) const;

  // Keys not in `allowed` are a UsageError (a misspelt key would otherwise be ignored).
  void allow_only(const std::vector<std::string>& allowed) const;

  // "load.toml:7: models[1].rate: expected EXPECTED". `key` may be a path below this table
  // ("stages[1].ranks[0]"); the line is its own, else its nearest parent's, else the table's.
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;
  // "load.toml:7", where fail() would report `key`; for checks made after reading.
  std::string locate(const std::string& key) const;

  const std::string& path() const { return path_; }

 private:
  const toml::node& required(const std::string& key, const std::string& expected) const;
  // The array at `key`, every element passing `is_element` (else "key[i]: expected ...").
  const toml::array& array_of(const std::string& key, const std::string& expected,
                              bool (toml::node::*is_element)() const noexcept) const;
  std::string where(const std::string& key) const;

  std::string path_;
  const toml::table* table_;
  std::string prefix_;
};

}  // namespace repipe
