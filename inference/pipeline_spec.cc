// inference/pipeline_spec.cc: reading and checking pipeline.toml.
#include "inference/pipeline_spec.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/text_format.h"
#include "common/toml_fields.h"

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
std::string replicas_range_error(std::int64_t replicas) {
  return "expected an integer in [1, " + std::to_string(kMostReplicas) + "], got " +
         std::to_string(replicas);
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
    fail(locate, "max_replicas", replicas_range_error(spec.max_replicas));
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

ModelVariant read_variant(const TomlFields& toml, const std::string& field, const Locate& locate) {
  toml.allow_only({"name", "accuracy", "resources", "batches", "latency_ms"});
  ModelVariant variant;
  variant.name = toml.text("name");
  variant.accuracy = toml.number("accuracy");
  variant.resources_per_replica = toml.number("resources");
  const std::vector<std::int64_t> batches =
      toml.integers("batches", "a list of integer batch sizes");
  const std::vector<double> latencies =
      toml.numbers("latency_ms", "a list of latencies in ms, one per batch size");
  if (latencies.size() != batches.size()) {
    toml.fail("latency_ms", "one latency per batch size (" + std::to_string(batches.size()) +
                                "), got " + std::to_string(latencies.size()));
  }
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (batches[i] < 1 || batches[i] > kLargestBatch) {  // before it narrows to an int
      fail(locate, field + ".batches[" + std::to_string(i) + "]", batch_range_error(batches[i]));
    }
    variant.profile.push_back({static_cast<int>(batches[i]), latencies[i]});
  }
  return variant;
}

PipelineSpec read_spec(const TomlFields& toml) {
  const Locate locate = [&toml](const std::string& field) { return toml.locate(field); };
  toml.check_version(PipelineSpec::kVersion, "pipeline format");
  toml.allow_only({"version", "name", "accuracy_method", "alpha", "beta", "gamma", "max_replicas",
                   "resource_unit", "stages"});
  PipelineSpec spec;
  spec.name = toml.text("name");
  spec.accuracy_method = parse_accuracy_method(toml.text("accuracy_method"),
                                               locate("accuracy_method") + ": accuracy_method");
  if (toml.has("alpha")) spec.alpha = toml.number("alpha");
  if (toml.has("beta")) spec.beta = toml.number("beta");
  if (toml.has("gamma")) spec.gamma = toml.number("gamma");
  if (toml.has("max_replicas")) {
    const std::int64_t replicas = toml.integer("max_replicas");
    if (replicas < 1 || replicas > kMostReplicas) {  // before it narrows to an int
      fail(locate, "max_replicas", replicas_range_error(replicas));
    }
    spec.max_replicas = static_cast<int>(replicas);
  }
  if (toml.has("resource_unit")) spec.resource_unit = toml.text("resource_unit");
  const std::vector<TomlFields> stages = toml.tables("stages", 1);
  for (std::size_t s = 0; s < stages.size(); ++s) {
    stages[s].allow_only({"name", "variants"});
    PipelineStage stage;
    stage.name = stages[s].text("name");
    const std::vector<TomlFields> variants = stages[s].tables("variants", 1);
    for (std::size_t v = 0; v < variants.size(); ++v) {
      stage.variants.push_back(read_variant(variants[v], variant_field(s, v), locate));
    }
    spec.stages.push_back(std::move(stage));
  }
  check_spec(spec, locate);
  return spec;
}

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
  const toml::table root = parse_toml_text(text, source);
  return read_spec(TomlFields(source, root));
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
