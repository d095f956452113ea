// inference/model_repository.cc: reading, checking and writing the model repository.
#include "inference/model_repository.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include "common/atomic_file.h"
#include "common/csv_reader.h"
#include "common/error.h"
#include "common/infeasible.h"
#include "common/text_format.h"
#include "common/toml_fields.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

constexpr const char* kConfigFormat = "repipe-model";
constexpr std::int64_t kConfigVersion = 1;

std::string join(const std::vector<int>& values) {
  std::string text;
  for (int v : values) text += (text.empty() ? "" : ", ") + std::to_string(v);
  return text;
}

int to_int(std::int64_t value) {
  return static_cast<int>(std::clamp<std::int64_t>(value, std::numeric_limits<int>::min(),
                                                   std::numeric_limits<int>::max()));
}

ModelConfig read_config(const std::string& path) {
  const toml::table root = parse_toml_file(path, "a model config");
  const TomlFields toml(path, root);
  toml.allow_only({"format", "version", "name", "task", "batch_sizes", "input_shape",
                   "output_shape", "slo_ms", "features", "profile"});
  if (toml.text("format") != kConfigFormat) {
    toml.fail("format", std::string("\"") + kConfigFormat + "\" (a repipe model config)");
  }
  if (toml.integer("version") != kConfigVersion) {
    toml.fail("version", std::to_string(kConfigVersion) + " (this repipe's model config format)");
  }
  ModelConfig config;
  config.name = toml.text("name");
  if (config.name.empty()) toml.fail("name", "a model name, got \"\"");
  config.task = toml.text("task");
  for (std::int64_t b : toml.integers("batch_sizes")) {
    if (b < 1 || (!config.batch_sizes.empty() && b <= config.batch_sizes.back())) {
      toml.fail("batch_sizes", "increasing batch sizes >= 1, got [" + join(config.batch_sizes) +
                                   (config.batch_sizes.empty() ? "" : ", ") + std::to_string(b) +
                                   ", ...]");
    }
    config.batch_sizes.push_back(to_int(b));
  }
  if (config.batch_sizes.empty()) toml.fail("batch_sizes", "at least one batch size, got []");
  config.input_shape = toml.integers("input_shape");
  config.output_shape = toml.integers("output_shape");
  config.slo_ms = toml.number("slo_ms");
  if (!(config.slo_ms > 0) || !std::isfinite(config.slo_ms)) {
    toml.fail("slo_ms", "an SLO in ms > 0, got " + format_double(config.slo_ms));
  }
  for (const TomlFields& row : toml.tables("features", 1)) {
    row.allow_only({"batch_size", "gflops", "memory_load"});
    BatchFeatures f;
    f.batch_size = to_int(row.integer("batch_size"));
    f.gflops = row.number("gflops");
    f.memory_load = row.number("memory_load");
    if (!(f.gflops >= 0) || !std::isfinite(f.gflops)) {
      row.fail("gflops", "GFLOP/s >= 0, got " + format_double(f.gflops));
    }
    if (!(f.memory_load >= 0) || !std::isfinite(f.memory_load)) {
      row.fail("memory_load",
               "a percentage of peak bandwidth >= 0, got " + format_double(f.memory_load));
    }
    if (std::find(config.batch_sizes.begin(), config.batch_sizes.end(), f.batch_size) ==
        config.batch_sizes.end()) {
      row.fail("batch_size", "one of batch_sizes [" + join(config.batch_sizes) + "], got " +
                                 std::to_string(f.batch_size));
    }
    for (const BatchFeatures& seen : config.features) {
      if (seen.batch_size == f.batch_size) {
        row.fail("batch_size", "one [[features]] table per batch size; " +
                                   std::to_string(f.batch_size) + " has two");
      }
    }
    config.features.push_back(f);
  }
  for (int b : config.batch_sizes) {
    const bool found = std::any_of(config.features.begin(), config.features.end(),
                                   [b](const BatchFeatures& f) { return f.batch_size == b; });
    if (!found) {
      toml.fail("features", "a [[features]] table for every batch size; batch size " +
                                std::to_string(b) + " has none");
    }
  }
  // Batch-size order, whatever the file's.
  std::sort(
      config.features.begin(), config.features.end(),
      [](const BatchFeatures& a, const BatchFeatures& b) { return a.batch_size < b.batch_size; });
  if (toml.has("profile")) {
    const TomlFields profile = toml.table("profile");
    profile.allow_only({"device", "share_method", "note"});
    config.provenance = ProfileProvenance{profile.text("device"), profile.text("share_method"),
                                          profile.has("note") ? profile.text("note") : ""};
  }
  return config;
}

RuntimeProfile read_runtime(const std::string& path, const ModelConfig& config) {
  const std::vector<std::string> header = {"batch_size", "share", "latency_ms"};
  const CsvTable table = CsvTable::read(path, header, "runtime profile");
  std::vector<RuntimePoint> points;
  std::set<std::pair<int, int>> seen;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const CsvRow row = table.row(r);
    RuntimePoint p;
    p.batch_size = to_int(row.integer("batch_size"));
    if (std::find(config.batch_sizes.begin(), config.batch_sizes.end(), p.batch_size) ==
        config.batch_sizes.end()) {
      row.fail("batch_size", "one of model.toml's batch_sizes [" + join(config.batch_sizes) + "]");
    }
    p.share = to_int(row.integer("share"));
    if (p.share < 1 || p.share > 100) row.fail("share", "a GPU share in percent, 1..100");
    p.latency_ms = row.number("latency_ms");
    if (!(p.latency_ms > 0)) row.fail("latency_ms", "a latency in ms > 0");
    if (!seen.insert({p.batch_size, p.share}).second) {
      row.fail("share", "one row per (batch_size, share); this pair came before");
    }
    points.push_back(p);
  }
  for (int b : config.batch_sizes) {
    if (!seen.count({b, 100})) {
      throw UsageError(path + ": expected a row at share 100 for every batch size; batch size " +
                       std::to_string(b) + " has none");
    }
  }
  return RuntimeProfile(std::move(points));
}

// The checks load() makes while reading, for an entry built in code.
void check_entry(const ModelEntry& entry) {
  const ModelConfig& c = entry.config;
  const std::string where = "model '" + c.name + "'";
  if (c.name.empty()) throw UsageError("a model entry needs a name");
  if (c.batch_sizes.empty() || !std::is_sorted(c.batch_sizes.begin(), c.batch_sizes.end()) ||
      c.batch_sizes.front() < 1) {
    throw UsageError(where + ": batch_sizes: expected increasing batch sizes >= 1");
  }
  if (!(c.slo_ms > 0)) throw UsageError(where + ": slo_ms: expected an SLO > 0");
  if (c.features.size() != c.batch_sizes.size()) {
    throw UsageError(where + ": features: expected one per batch size");
  }
  for (std::size_t i = 0; i < c.features.size(); ++i) {
    if (c.features[i].batch_size != c.batch_sizes[i]) {
      throw UsageError(where + ": features: expected one per batch size, in batch-size order");
    }
  }
  if (!entry.runtime) return;
  for (int b : c.batch_sizes) {
    if (!entry.runtime->has_batch(b) || entry.runtime->latency_ms(b, 100) <= 0) {
      throw UsageError(where + ": runtime profile: expected a row at share 100 for batch size " +
                       std::to_string(b));
    }
  }
  for (const RuntimePoint& p : entry.runtime->points()) {
    if (std::find(c.batch_sizes.begin(), c.batch_sizes.end(), p.batch_size) ==
            c.batch_sizes.end() ||
        p.share < 1 || p.share > 100 || !(p.latency_ms > 0)) {
      throw UsageError(where + ": runtime profile: a row (batch " + std::to_string(p.batch_size) +
                       ", share " + std::to_string(p.share) +
                       ") outside the batch sizes, shares 1..100 or latencies > 0");
    }
  }
}

}  // namespace

RuntimeProfile::RuntimeProfile(std::vector<RuntimePoint> points) {
  std::sort(points.begin(), points.end(), [](const RuntimePoint& a, const RuntimePoint& b) {
    return a.batch_size != b.batch_size ? a.batch_size < b.batch_size : a.share < b.share;
  });
  for (const RuntimePoint& p : points) {
    REPIPE_CHECK(p.share >= 1 && p.share <= 100 && p.latency_ms > 0,
                 "runtime point batch " << p.batch_size << " share " << p.share);
    auto& curve = by_batch_[p.batch_size];
    REPIPE_CHECK(curve.empty() || curve.back().first < p.share,
                 "two runtime points at batch " << p.batch_size << " share " << p.share);
    curve.emplace_back(p.share, p.latency_ms);
  }
  points_ = std::move(points);
}

int RuntimeProfile::min_share(int batch_size) const {
  auto it = by_batch_.find(batch_size);
  REPIPE_CHECK(it != by_batch_.end(), "no runtime profile for batch size " << batch_size);
  return it->second.front().first;
}

double RuntimeProfile::latency_ms(int batch_size, double share) const {
  auto it = by_batch_.find(batch_size);
  REPIPE_CHECK(it != by_batch_.end(), "no runtime profile for batch size " << batch_size);
  const auto& curve = it->second;  // (share, ms), shares ascending
  if (share < curve.front().first) return std::numeric_limits<double>::infinity();
  if (share >= curve.back().first) return curve.back().second;
  // The first point at or above `share`, and the one before it.
  auto upper =
      std::lower_bound(curve.begin(), curve.end(), share,
                       [](const std::pair<int, double>& p, double s) { return p.first < s; });
  if (upper->first == share) return upper->second;
  auto lower = upper - 1;
  const double w = (share - lower->first) / static_cast<double>(upper->first - lower->first);
  return lower->second + w * (upper->second - lower->second);
}

const BatchFeatures& ModelEntry::features_at(int batch_size) const {
  for (const BatchFeatures& f : config.features) {
    if (f.batch_size == batch_size) return f;
  }
  REPIPE_CHECK(false, "model " << config.name << " has no features at batch " << batch_size);
}

const RuntimeProfile& ModelEntry::profile() const {
  if (!runtime) {
    throw Infeasible("model '" + config.name + "' has no runtime profile (" + kRuntimeProfileFile +
                     " is missing from its folder): the allocator needs its latency per batch " +
                     "size and share (measure one with `repipe allocate profile`)");
  }
  return *runtime;
}

ModelRepository ModelRepository::load(const std::string& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    throw UsageError(dir + ": no such folder (expected a model repository: one folder per " +
                     "model with model.toml and runtime.csv)");
  }
  std::vector<fs::path> folders;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.is_directory()) folders.push_back(e.path());
  }
  std::sort(folders.begin(), folders.end());
  ModelRepository repository;
  repository.dir_ = dir;
  for (const fs::path& folder : folders) {
    const fs::path config_path = folder / kModelConfigFile;
    if (!fs::is_regular_file(config_path, error)) {
      throw UsageError(folder.string() + ": no " + kModelConfigFile +
                       " (every folder of a model repository is a model)");
    }
    ModelEntry entry;
    entry.config = read_config(config_path.string());
    if (entry.config.name != folder.filename().string()) {
      throw UsageError(config_path.string() + ": name: expected \"" + folder.filename().string() +
                       "\" (the folder's name), got \"" + entry.config.name + "\"");
    }
    const fs::path runtime_path = folder / kRuntimeProfileFile;
    if (fs::exists(runtime_path, error)) {
      entry.runtime = read_runtime(runtime_path.string(), entry.config);
    }
    repository.models_.push_back(std::move(entry));
  }
  if (repository.models_.empty()) {
    throw UsageError(dir +
                     ": no model folders (expected a model repository: one folder per model)");
  }
  return repository;
}

void ModelRepository::add(ModelEntry entry) {
  check_entry(entry);
  if (find(entry.config.name)) {
    throw UsageError("model '" + entry.config.name + "' is in the repository twice");
  }
  models_.push_back(std::move(entry));
}

const ModelEntry* ModelRepository::find(const std::string& name) const {
  for (const ModelEntry& m : models_) {
    if (m.config.name == name) return &m;
  }
  return nullptr;
}

std::string ModelRepository::names() const {
  std::string text;
  for (const ModelEntry& m : models_) text += (text.empty() ? "" : ", ") + m.config.name;
  return text;
}

std::string model_config_toml(const ModelConfig& c) {
  auto shape = [](const std::vector<std::int64_t>& dims) {
    std::string text = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
    return text + "]";
  };
  std::ostringstream out;
  out << "# repipe model repository entry: the model's config; its runtime profile is "
      << kRuntimeProfileFile << ".\n"
      << "# Read by `repipe allocate plan --repo`; written by `repipe allocate profile`.\n"
      << "format = " << toml_quoted(kConfigFormat) << "\n"
      << "version = " << kConfigVersion << "\n"
      << "name = " << toml_quoted(c.name) << "\n"
      << "task = " << toml_quoted(c.task) << "\n"
      << "batch_sizes = [" << join(c.batch_sizes) << "]\n"
      << "input_shape = " << shape(c.input_shape) << "  # one request, no batch dimension\n"
      << "output_shape = " << shape(c.output_shape) << "\n"
      << "slo_ms = " << toml_float(c.slo_ms) << "  # latency SLO; a load file may override it\n"
      << "\n"
      << "# DeInfer's interference features per batch size, alone at full share: G = achieved\n"
      << "# GFLOP/s, L = memory_load = achieved memory bandwidth in % of the device's peak.\n";
  for (const BatchFeatures& f : c.features) {
    out << "[[features]]\n"
        << "batch_size = " << f.batch_size << "\n"
        << "gflops = " << toml_float(f.gflops) << "\n"
        << "memory_load = " << toml_float(f.memory_load) << "\n";
  }
  if (c.provenance) {
    out << "\n# How " << kRuntimeProfileFile << " was measured.\n"
        << "[profile]\n"
        << "device = " << toml_quoted(c.provenance->device) << "\n"
        << "share_method = " << toml_quoted(c.provenance->share_method) << "\n"
        << "note = " << toml_quoted(c.provenance->note) << "\n";
  }
  return out.str();
}

std::string runtime_profile_csv(const RuntimeProfile& profile) {
  std::ostringstream out;
  out << kRuntimeProfileHeader << "\n";
  for (const RuntimePoint& p : profile.points()) {
    out << p.batch_size << "," << p.share << "," << format_double(p.latency_ms) << "\n";
  }
  return out.str();
}

void save_model_entry(const ModelEntry& entry, const std::string& repo_dir) {
  check_entry(entry);
  const fs::path folder = fs::path(repo_dir) / entry.config.name;
  create_folder(folder);
  if (entry.runtime) {
    write_file_atomically(folder / kRuntimeProfileFile, runtime_profile_csv(*entry.runtime));
  }
  write_file_atomically(folder / kModelConfigFile, model_config_toml(entry.config));
}

}  // namespace repipe
