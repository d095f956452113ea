// common/toml_fields.cc: typed TOML reads with errors naming file, line and key.
#include "common/toml_fields.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

// What a node holds, for "got ..." in messages.
std::string type_of(const toml::node& node) {
  if (node.is_string()) return "a string";
  if (node.is_integer()) return "an integer";
  if (node.is_floating_point()) return "a float";
  if (node.is_boolean()) return "a boolean";
  if (node.is_array()) return "an array";
  return node.is_table() ? "a table" : "a date or time";
}

[[noreturn]] void throw_parse_error(const std::string& source, const toml::parse_error& e) {
  throw UsageError(source + ":" + std::to_string(e.source().begin.line) +
                   ": not valid TOML: " + std::string(e.description()));
}

}  // namespace

toml::table parse_toml_file(const std::string& path, const std::string& what) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw UsageError(path + ": no such file (expected " + what + ")");
  }
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw_parse_error(path, e);
  }
}

toml::table parse_toml_text(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw_parse_error(source, e);
  }
}

std::string toml_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string toml_float(double value) {
  std::string text = format_double(value);
  if (text.find_first_of(".eni") == std::string::npos) text += ".0";  // stay a float
  return text;
}

TomlFields::TomlFields(std::string path, const toml::table& table, std::string prefix)
    : path_(std::move(path)), table_(&table), prefix_(std::move(prefix)) {}

std::string TomlFields::locate(const std::string& key) const {
  const toml::node* node = table_->get(key);
  for (std::string field = key; !node;) {  // a path: the field, else its nearest parent
    node = table_->at_path(field).node();
    const std::size_t cut = field.find_last_of(".[");
    if (node || cut == std::string::npos) break;
    field.resize(cut);
  }
  const toml::source_region& source = node ? node->source() : table_->source();
  if (source.begin.line == 0) return path_;
  return path_ + ":" + std::to_string(source.begin.line);
}

std::string TomlFields::where(const std::string& key) const {
  return locate(key) + ": " + prefix_ + key;
}

void TomlFields::fail(const std::string& key, const std::string& expected) const {
  throw UsageError(where(key) + ": expected " + expected);
}

const toml::node& TomlFields::required(const std::string& key, const std::string& expected) const {
  const toml::node* node = table_->get(key);
  if (!node) fail(key, expected + " (the key is missing)");
  return *node;
}

std::string TomlFields::text(const std::string& key) const {
  const toml::node& node = required(key, "a string");
  if (!node.is_string()) fail(key, "a string, got " + type_of(node));
  return node.as_string()->get();
}

double TomlFields::number(const std::string& key) const {
  const toml::node& node = required(key, "a number");
  if (!node.is_number()) fail(key, "a number, got " + type_of(node));
  return node.value<double>().value();
}

std::int64_t TomlFields::integer(const std::string& key) const {
  const toml::node& node = required(key, "an integer");
  if (!node.is_integer()) fail(key, "an integer, got " + type_of(node));
  return node.as_integer()->get();
}

bool TomlFields::boolean(const std::string& key) const {
  const toml::node& node = required(key, "true or false");
  if (!node.is_boolean()) fail(key, "true or false, got " + type_of(node));
  return node.as_boolean()->get();
}

const toml::array& TomlFields::array_of(const std::string& key, const std::string& expected,
                                        bool (toml::node::*is_element)() const noexcept) const {
  const toml::node& node = required(key, expected);
  const toml::array* array = node.as_array();
  if (!array) fail(key, expected + ", got " + type_of(node));
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    if (!(element.*is_element)()) {
      fail(key + "[" + std::to_string(i) + "]", expected + ", got " + type_of(element));
    }
  }
  return *array;
}

std::vector<std::int64_t> TomlFields::integers(const std::string& key,
                                               const std::string& expected) const {
  std::vector<std::int64_t> values;
  for (const toml::node& element : array_of(key, expected, &toml::node::is_integer)) {
    values.push_back(element.as_integer()->get());
  }
  return values;
}

std::vector<double> TomlFields::numbers(const std::string& key, const std::string& expected) const {
  std::vector<double> values;
  for (const toml::node& element : array_of(key, expected, &toml::node::is_number)) {
    values.push_back(element.value<double>().value());
  }
  return values;
}

std::vector<std::string> TomlFields::texts(const std::string& key,
                                           const std::string& expected) const {
  std::vector<std::string> values;
  for (const toml::node& element : array_of(key, expected, &toml::node::is_string)) {
    values.push_back(element.as_string()->get());
  }
  return values;
}

TomlFields TomlFields::table(const std::string& key) const {
  const toml::node& node = required(key, "a table");
  if (!node.is_table()) fail(key, "a table, got " + type_of(node));
  return TomlFields(path_, *node.as_table(), prefix_ + key + ".");
}

std::vector<TomlFields> TomlFields::tables(const std::string& key, std::size_t at_least) const {
  std::string header;  // "stages.variants" for the tables under stages[0], as TOML spells it
  bool in_index = false;
  for (char c : prefix_ + key) {
    if (c == '[' || c == ']') {
      in_index = c == '[';
    } else if (!in_index) {
      header += c;
    }
  }
  const std::string expected = "at least " + std::to_string(at_least) + " [[" + header +
                               "]] table" + (at_least == 1 ? "" : "s");
  const toml::node* node = table_->get(key);
  if (!node) {
    if (at_least == 0) return {};
    fail(key, expected + " (the key is missing)");
  }
  const toml::array* array = node->as_array();
  if (!array || (!array->empty() && !array->is_array_of_tables())) {
    fail(key, expected + ", got " + type_of(*node));
  }
  if (array->size() < at_least) fail(key, expected + ", got " + std::to_string(array->size()));
  std::vector<TomlFields> out;
  for (std::size_t i = 0; i < array->size(); ++i) {
    out.emplace_back(path_, *array->get(i)->as_table(),
                     prefix_ + key + "[" + std::to_string(i) + "].");
  }
  return out;
}

void TomlFields::check_version(std::int64_t supported, const std::string& format) const {
  const std::int64_t version = integer("version");
  if (version != supported) {
    throw UsageError(where("version") + ": " + format + " version " + std::to_string(version) +
                     " is not supported; this repipe reads version " + std::to_string(supported));
  }
}

void TomlFields::allow_only(const std::vector<std::string>& allowed) const {
  for (const auto& [key, node] : *table_) {
    const std::string name(key.str());
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw UsageError(where(name) + ": unknown key (expected one of " + list + ")");
  }
}

}  // namespace repipe
