// inference/pipeline_spec.cc: reading and checking pipeline.toml.
#include "inference/pipeline_spec.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

// Large enough for any real pipeline, small enough that replicas x resources stays exact.
constexpr std::int64_t kMostReplicas = 1'000'000;
constexpr std::int64_t kLargestBatch = 1'000'000;

// Turns a field ("stages[0].name") into where to report it: "video.toml:7" for a file, the
// caller's description for a spec built in code. Reader and validator report alike.
using Locate = std::function<std::string(const std::string& field)>;

[[noreturn]] void fail(const Locate& locate, const std::string& field, const std::string& what) {
  throw UsageError(locate(field) + ": " + field + ": " + what);
}

std::string stage_field(std::size_t s) {
  return "stages[" + std::to_string(s) + "]";
}
std::string variant_field(std::size_t s, std::size_t v) {
  return stage_field(s) + ".variants[" + std::to_string(v) + "]";
}

std::string batch_range_error(std::int64_t batch) {
  return "expected a batch size in [1, " + std::to_string(kLargestBatch) + "], got " +
         std::to_string(batch);
}

void check_weight(const Locate& locate, const std::optional<double>& weight, const char* key) {
  if (weight && !(std::isfinite(*weight) && *weight >= 0)) {
    fail(locate, key, "expected a finite weight >= 0, got " + format_double(*weight));
  }
}

void check_variant(const ModelVariant& variant, const std::string& prefix, const Locate& locate) {
  if (variant.name.empty()) fail(locate, prefix + ".name", "expected a variant name, got \"\"");
  if (!(variant.accuracy > 0 && variant.accuracy <= 1)) {
    fail(locate, prefix + ".accuracy",
         "expected a fraction in (0, 1] (0.761, not 76.1 percent), got " +
             format_double(variant.accuracy));
  }
  if (!(std::isfinite(variant.resources_per_replica) && variant.resources_per_replica > 0)) {
    fail(locate, prefix + ".resources",
         "expected resources per replica > 0, got " + format_double(variant.resources_per_replica));
  }
  if (variant.profile.empty()) {
    fail(locate, prefix + ".batches", "expected at least one profiled batch size, got []");
  }
  for (std::size_t i = 0; i < variant.profile.size(); ++i) {
    const BatchLatency& point = variant.profile[i];
    const std::string batches = prefix + ".batches[" + std::to_string(i) + "]";
    const std::string latencies = prefix + ".latency_ms[" + std::to_string(i) + "]";
    if (point.batch < 1 || point.batch > kLargestBatch) {
      fail(locate, batches, batch_range_error(point.batch));
    }
    if (i > 0 && point.batch <= variant.profile[i - 1].batch) {
      fail(locate, batches,
           "expected batch sizes in increasing order without repeats, got " +
               std::to_string(point.batch) + " after " +
               std::to_string(variant.profile[i - 1].batch));
    }
    if (!(std::isfinite(point.latency_ms) && point.latency_ms > 0)) {
      fail(locate, latencies,
           "expected a latency in ms > 0, got " + format_double(point.latency_ms));
    }
  }
}

// What is wrong with a spec whose fields have the right types.
void check_spec(const PipelineSpec& spec, const Locate& locate) {
  if (spec.name.empty()) fail(locate, "name", "expected a pipeline name, got \"\"");
  check_weight(locate, spec.alpha, "alpha");
  check_weight(locate, spec.beta, "beta");
  check_weight(locate, spec.gamma, "gamma");
  if (spec.max_replicas < 1 || spec.max_replicas > kMostReplicas) {
    fail(locate, "max_replicas",
         "expected an integer in [1, " + std::to_string(kMostReplicas) + "], got " +
             std::to_string(spec.max_replicas));
  }
  if (spec.stages.empty()) fail(locate, "stages", "expected at least one [[stages]] table");
  std::set<std::string> stage_names;
  for (std::size_t s = 0; s < spec.stages.size(); ++s) {
    const PipelineStage& stage = spec.stages[s];
    if (stage.name.empty())
      fail(locate, stage_field(s) + ".name", "expected a stage name, got \"\"");
    if (!stage_names.insert(stage.name).second) {
      fail(locate, stage_field(s) + ".name",
           "stage name '" + stage.name + "' is already used; expected unique stage names");
    }
    if (stage.variants.empty()) {
      fail(locate, stage_field(s) + ".variants", "expected at least one [[stages.variants]] table");
    }
    std::set<std::string> variant_names;
    for (std::size_t v = 0; v < stage.variants.size(); ++v) {
      check_variant(stage.variants[v], variant_field(s, v), locate);
      if (!variant_names.insert(stage.variants[v].name).second) {
        fail(locate, variant_field(s, v) + ".name",
             "variant name '" + stage.variants[v].name + "' is already used in stage '" +
                 stage.name + "'; expected unique names within a stage");
      }
    }
  }
}

std::string type_of(const toml::node& node) {
  if (node.is_string()) return "a string";
  if (node.is_integer()) return "an integer";
  if (node.is_floating_point()) return "a float";
  if (node.is_boolean()) return "a boolean";
  if (node.is_array()) return "an array";
  return node.is_table() ? "a table" : "a date or time";
}

// Reads one pipeline file, remembering the line of every field for error messages.
class PipelineReader {
 public:
  explicit PipelineReader(std::string source) : source_(std::move(source)) {}

  // "video.toml:7" for a field or, failing that, its nearest parent that has a line.
  std::string locate(std::string field) const {
    while (true) {
      auto it = lines_.find(field);
      if (it != lines_.end()) return source_ + ":" + std::to_string(it->second);
      std::size_t cut = field.find_last_of(".[");
      if (cut == std::string::npos) return source_;
      field.resize(cut);
    }
  }
  Locate locator() const {
    return [this](const std::string& field) { return locate(field); };
  }

  PipelineSpec read(const toml::table& root) {
    // The version first: a newer file should say so, not trip over a key added since.
    const std::string one = std::to_string(PipelineSpec::kVersion);
    const toml::node& version_node = required(root, "", "version", "version = " + one);
    lines_["version"] = static_cast<std::int64_t>(version_node.source().begin.line);
    const std::int64_t version = integer(version_node, "version");
    if (version != PipelineSpec::kVersion) {
      fail_at("version", "pipeline format version " + std::to_string(version) +
                             " is not supported; this repipe reads version " + one);
    }
    visit_keys(root, "",
               {"version", "name", "accuracy_method", "alpha", "beta", "gamma", "max_replicas",
                "resource_unit", "stages"});
    PipelineSpec spec;
    spec.name = string(required(root, "", "name", "a pipeline name"), "name");
    spec.accuracy_method = parse_accuracy_method(
        string(required(root, "", "accuracy_method", "product, sum or mean"), "accuracy_method"),
        locate("accuracy_method") + ": accuracy_method");
    spec.alpha = optional_number(root, "alpha");
    spec.beta = optional_number(root, "beta");
    spec.gamma = optional_number(root, "gamma");
    if (const toml::node* node = root.get("max_replicas")) {
      spec.max_replicas = bounded_int(*node, "max_replicas", kMostReplicas);
    }
    if (const toml::node* node = root.get("resource_unit")) {
      spec.resource_unit = string(*node, "resource_unit");
    }
    const toml::array& stages = tables(root, "", "stages", "at least one [[stages]] table");
    for (std::size_t s = 0; s < stages.size(); ++s) spec.stages.push_back(stage(stages[s], s));
    check_spec(spec, locator());
    return spec;
  }

 private:
  [[noreturn]] void fail_at(const std::string& field, const std::string& what) const {
    fail(locator(), field, what);
  }

  // Records each key's line and rejects keys outside `allowed` (a typo should not be ignored).
  void visit_keys(const toml::table& table, const std::string& prefix,
                  const std::vector<std::string>& allowed) {
    for (auto&& [key, node] : table) {
      const std::string field = prefix + std::string(key.str());
      lines_[field] = static_cast<std::int64_t>(node.source().begin.line);
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
        std::string list;
        for (const std::string& name : allowed) list += (list.empty() ? "" : ", ") + name;
        fail_at(field, "unknown key (expected one of " + list + ")");
      }
    }
  }

  const toml::node& required(const toml::table& table, const std::string& prefix, const char* key,
                             const std::string& expected) const {
    const toml::node* node = table.get(key);
    if (!node) fail_at(prefix + key, "missing; expected " + expected);
    return *node;
  }

  std::int64_t integer(const toml::node& node, const std::string& field) const {
    if (!node.is_integer()) fail_at(field, "expected an integer, got " + type_of(node));
    return node.as_integer()->get();
  }
  int bounded_int(const toml::node& node, const std::string& field, std::int64_t most) const {
    const std::int64_t value = integer(node, field);
    if (value < 1 || value > most) {
      fail_at(field, "expected an integer in [1, " + std::to_string(most) + "], got " +
                         std::to_string(value));
    }
    return static_cast<int>(value);
  }
  std::string string(const toml::node& node, const std::string& field) const {
    if (!node.is_string()) fail_at(field, "expected a string, got " + type_of(node));
    return node.as_string()->get();
  }
  double number(const toml::node& node, const std::string& field) const {
    if (!node.is_number()) fail_at(field, "expected a number, got " + type_of(node));
    return node.value<double>().value();
  }
  std::optional<double> optional_number(const toml::table& table, const char* key) const {
    const toml::node* node = table.get(key);
    if (!node) return std::nullopt;
    return number(*node, key);
  }

  // An array of tables ([[key]]) under `table`, with the line of each element recorded.
  const toml::array& tables(const toml::table& table, const std::string& prefix, const char* key,
                            const std::string& expected) {
    const std::string field = prefix + key;
    const toml::node& node = required(table, prefix, key, expected);
    if (!node.is_array()) fail_at(field, "expected " + expected + ", got " + type_of(node));
    const toml::array& list = *node.as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string element = field + "[" + std::to_string(i) + "]";
      lines_[element] = static_cast<std::int64_t>(list[i].source().begin.line);
      if (!list[i].is_table()) fail_at(element, "expected a table, got " + type_of(list[i]));
    }
    return list;
  }

  // An array under `table`, its elements' lines recorded; `each` reads one element.
  void array(const toml::table& table, const std::string& prefix, const char* key,
             const std::string& expected,
             const std::function<void(const toml::node&, const std::string&)>& each) {
    const std::string field = prefix + key;
    const toml::node& node = required(table, prefix, key, expected);
    if (!node.is_array()) fail_at(field, "expected " + expected + ", got " + type_of(node));
    const toml::array& list = *node.as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string element = field + "[" + std::to_string(i) + "]";
      lines_[element] = static_cast<std::int64_t>(list[i].source().begin.line);
      each(list[i], element);
    }
  }

  PipelineStage stage(const toml::node& node, std::size_t s) {
    const toml::table& table = *node.as_table();
    const std::string prefix = stage_field(s) + ".";
    visit_keys(table, prefix, {"name", "variants"});
    PipelineStage stage;
    stage.name = string(required(table, prefix, "name", "a stage name"), prefix + "name");
    const toml::array& variants =
        tables(table, prefix, "variants", "at least one [[stages.variants]] table");
    for (std::size_t v = 0; v < variants.size(); ++v) {
      stage.variants.push_back(variant(*variants[v].as_table(), variant_field(s, v) + "."));
    }
    return stage;
  }

  ModelVariant variant(const toml::table& table, const std::string& prefix) {
    visit_keys(table, prefix, {"name", "accuracy", "resources", "batches", "latency_ms"});
    ModelVariant variant;
    variant.name = string(required(table, prefix, "name", "a variant name"), prefix + "name");
    variant.accuracy =
        number(required(table, prefix, "accuracy", "a fraction in (0, 1]"), prefix + "accuracy");
    variant.resources_per_replica = number(
        required(table, prefix, "resources", "resources per replica > 0"), prefix + "resources");
    std::vector<int> batches;
    array(table, prefix, "batches", "a list of batch sizes",
          [&](const toml::node& element, const std::string& field) {
            if (!element.is_integer()) {
              fail_at(field, "expected an integer batch size, got " + type_of(element));
            }
            const std::int64_t batch = element.as_integer()->get();
            if (batch < 1 || batch > kLargestBatch) fail_at(field, batch_range_error(batch));
            batches.push_back(static_cast<int>(batch));
          });
    std::vector<double> latencies;
    array(table, prefix, "latency_ms", "a list of latencies in ms, one per batch size",
          [&](const toml::node& element, const std::string& field) {
            latencies.push_back(number(element, field));
          });
    if (latencies.size() != batches.size()) {
      fail_at(prefix + "latency_ms", "expected one latency per batch size (" +
                                         std::to_string(batches.size()) + "), got " +
                                         std::to_string(latencies.size()));
    }
    for (std::size_t i = 0; i < batches.size(); ++i) {
      variant.profile.push_back({batches[i], latencies[i]});
    }
    return variant;
  }

  std::string source_;
  std::map<std::string, std::int64_t> lines_;  // field -> line it was read from
};

}  // namespace

AccuracyMethod parse_accuracy_method(const std::string& text, const std::string& what) {
  if (text == "product") return AccuracyMethod::kProduct;
  if (text == "sum") return AccuracyMethod::kSum;
  if (text == "mean") return AccuracyMethod::kMean;
  throw UsageError(what + ": expected product, sum or mean, got '" + text + "'");
}

const char* accuracy_method_name(AccuracyMethod method) {
  switch (method) {
    case AccuracyMethod::kProduct:
      return "product";
    case AccuracyMethod::kSum:
      return "sum";
    case AccuracyMethod::kMean:
      return "mean";
  }
  return "?";
}

PipelineSpec parse_pipeline_spec(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    throw UsageError(source + ":" + std::to_string(error.source().begin.line) +
                     ": not valid TOML: " + std::string(error.description()));
  }
  return PipelineReader(source).read(root);
}

PipelineSpec load_pipeline_spec(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw UsageError(path + ": pipeline file not found");
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_pipeline_spec(text.str(), path);
}

void validate_pipeline_spec(const PipelineSpec& spec, const std::string& where) {
  check_spec(spec, [&where](const std::string&) { return where; });
}

}  // namespace repipe
