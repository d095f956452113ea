// inference/pipeline_spec.h: an inference pipeline as `repipe optimize` reads it (pipeline.toml):
// a chain of stages, each with model variants that differ in accuracy, latency per batch size and
// resources per replica (IPA's profiles), plus the objective's weights. Torch-free.
//
//   version = 1
//   name = "video"
//   accuracy_method = "product"      # product | sum | mean of the stages' accuracies
//   alpha = 2.0                      # objective: alpha*accuracy - beta*resources - gamma*batches
//   beta = 0.05
//   gamma = 0.001
//   max_replicas = 32                # optional, default 32
//   resource_unit = "cores"          # optional, for tables
//   [[stages]]
//   name = "detect"
//   [[stages.variants]]
//   name = "yolov5n"
//   accuracy = 0.457                 # a fraction in (0, 1]
//   resources = 1.0                  # per replica, > 0
//   batches = [1, 2, 4, 8]           # strictly increasing
//   latency_ms = [28, 45, 80, 150]   # one per batch, > 0
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace repipe {

// How the stages' accuracies combine into the pipeline's.
enum class AccuracyMethod { kProduct, kSum, kMean };

// "product" | "sum" | "mean"; anything else is a UsageError naming `what`.
AccuracyMethod parse_accuracy_method(const std::string& text, const std::string& what);
const char* accuracy_method_name(AccuracyMethod method);

// One profiled batch size: a batch of `batch` requests takes `latency_ms` on one replica.
struct BatchLatency {
  int batch = 1;
  double latency_ms = 0;
};

struct ModelVariant {
  std::string name;
  double accuracy = 1;                // in (0, 1]
  double resources_per_replica = 1;   // e.g. CPU cores or GPUs, > 0
  std::vector<BatchLatency> profile;  // strictly increasing batches
};

struct PipelineStage {
  std::string name;
  std::vector<ModelVariant> variants;
};

struct PipelineSpec {
  static constexpr int kVersion = 1;
  static constexpr int kDefaultMaxReplicas = 32;

  std::string name;
  AccuracyMethod accuracy_method = AccuracyMethod::kProduct;
  // The objective's weights; absent ones must come from the command line.
  std::optional<double> alpha, beta, gamma;
  int max_replicas = kDefaultMaxReplicas;
  std::string resource_unit = "cores";
  std::vector<PipelineStage> stages;
};

// Reads and validates a pipeline file. Malformed TOML, a missing or mistyped key and a value out
// of range are a UsageError: "FILE:LINE: stages[0].variants[1].accuracy: expected ..., got ...".
PipelineSpec load_pipeline_spec(const std::string& path);

// The same for TOML text; `source` names it in errors.
PipelineSpec parse_pipeline_spec(const std::string& text, const std::string& source);

// Checks a spec built in code (tests, benchmarks) as the reader checks a file; errors name
// `where` and the field.
void validate_pipeline_spec(const PipelineSpec& spec, const std::string& where);

}  // namespace repipe
