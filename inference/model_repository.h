// inference/model_repository.h: the model repository the GPU allocator plans from (DeInfer's
// modelRepository, in repipe's formats): one folder per model with its config and its runtime
// profile, the latency of a batch at each GPU share.
//
//   REPO/<model>/model.toml    the config (format "repipe-model", version 1):
//       name = "resnet-mini"               # = the folder's name
//       task = "image classification"
//       batch_sizes = [1, 2, 4, 8, 16]     # the batch sizes the model is served at
//       input_shape = [3, 32, 32]          # one request's input, without the batch dimension
//       output_shape = [10]                # one request's output
//       slo_ms = 40.0                      # the latency SLO (a load file may override it)
//       [[features]]                       # one per batch size: what the interference predictor
//       batch_size = 1                     # reads (DeInfer's G and L), measured alone at full
//       share gflops = 12.5                      # G: achieved GFLOP/s memory_load = 3.2 # L:
//       achieved memory bandwidth, % of the device's peak [profile]                          #
//       optional, informational: how runtime.csv was measured device = "cpu" share_method =
//       "scaled"            # mps | scaled | threads (runtime_profiler.h) note = "..."
//   REPO/<model>/runtime.csv   the runtime profile (DeInfer's mps_runtime.txt), header exactly
//       batch_size,share,latency_ms        one row per (batch size, share): the time of one batch
//                                          at that GPU share in percent (1..100); every batch size
//                                          of the config has a row at share 100.
//                                          A model folder without it is a model without a profile:
//                                          it loads, but no plan can serve it.
//   REPO/interference.toml     optional: the interference coefficients for the repository's
//                              features (inference/interference_model.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace repipe {

inline constexpr const char* kModelConfigFile = "model.toml";
inline constexpr const char* kRuntimeProfileFile = "runtime.csv";
inline constexpr const char* kRuntimeProfileHeader = "batch_size,share,latency_ms";

// DeInfer's features of a model at one batch size, alone at full share.
struct BatchFeatures {
  int batch_size = 0;
  double gflops = 0;       // G: achieved GFLOP/s
  double memory_load = 0;  // L: achieved memory bandwidth, percent of the device's peak
};

// How a runtime profile was measured; informational.
struct ProfileProvenance {
  std::string device;        // "cpu", "cuda:0"
  std::string share_method;  // "mps", "scaled", "threads"
  std::string note;
};

struct ModelConfig {
  std::string name;
  std::string task;
  std::vector<int> batch_sizes;  // increasing
  std::vector<std::int64_t> input_shape, output_shape;
  double slo_ms = 0;
  std::vector<BatchFeatures> features;  // one per batch size, in the same order
  std::optional<ProfileProvenance> provenance;
};

// One row of runtime.csv.
struct RuntimePoint {
  int batch_size = 0;
  int share = 0;  // percent of a GPU, 1..100
  double latency_ms = 0;
};

// Latency of a batch at a GPU share: the profiled points of each batch size, interpolated
// linearly between neighbouring shares (DeInfer's lookup, on any grid).
class RuntimeProfile {
 public:
  RuntimeProfile() = default;
  // Points in any order; checked by the loader, REPIPE_CHECKed here.
  explicit RuntimeProfile(std::vector<RuntimePoint> points);

  bool has_batch(int batch_size) const { return by_batch_.count(batch_size) > 0; }
  // The smallest profiled share of a batch size: below it the latency is unknown.
  int min_share(int batch_size) const;
  // The time of one batch at `share` percent; +inf below min_share (the model cannot run there).
  double latency_ms(int batch_size, double share) const;

  const std::vector<RuntimePoint>& points() const { return points_; }

 private:
  std::vector<RuntimePoint> points_;                             // batch-major, shares ascending
  std::map<int, std::vector<std::pair<int, double>>> by_batch_;  // batch -> (share, ms) ascending
};

struct ModelEntry {
  ModelConfig config;
  std::optional<RuntimeProfile> runtime;  // absent: the folder has no runtime.csv

  const BatchFeatures& features_at(int batch_size) const;
  // The runtime profile; a model without one is Infeasible (common/infeasible.h) naming it.
  const RuntimeProfile& profile() const;
};

class ModelRepository {
 public:
  // Reads every model folder of `dir` (sorted by name). A missing folder, a subfolder without
  // model.toml, a malformed model.toml or runtime.csv (missing or mistyped key, a feature row
  // missing for a batch size, a batch size without its share-100 row, a share outside 1..100, a
  // latency <= 0, ...) is a UsageError naming the file, the key or line and what was expected.
  static ModelRepository load(const std::string& dir);

  // For tests and for building a repository in code: entries are checked as by load.
  void add(ModelEntry entry);

  const ModelEntry* find(const std::string& name) const;
  const std::vector<ModelEntry>& models() const { return models_; }
  const std::string& dir() const { return dir_; }
  // "a, b, c": the model names, for messages.
  std::string names() const;

 private:
  std::string dir_;
  std::vector<ModelEntry> models_;
};

// Writes REPO/<name>/model.toml and, when the entry has a profile, runtime.csv, each atomically
// (an existing entry of that name is replaced).
void save_model_entry(const ModelEntry& entry, const std::string& repo_dir);

// The config as model.toml text and the profile as runtime.csv text.
std::string model_config_toml(const ModelConfig& config);
std::string runtime_profile_csv(const RuntimeProfile& profile);

}  // namespace repipe
