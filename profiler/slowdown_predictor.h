// profiler/slowdown_predictor.h: predicts how much a co-located load slows a workload down (the
// factor colocated_ms / alone_ms), from the workload's features and the load's, and evaluates
// how well it does. Torch-free: the replanner calls it at run time.
//
// Three models, all fitted on the same rows (profiler/interference_data.h):
//   forest:  gradient-boosted trees (xgboost) on log(slowdown) over predictor_features(); the
//            predictor's answer, as DynPipe's random forest over workload and load features.
//   linear:  least squares over the same features (standardised, a small ridge): a baseline.
//   deinfer: DeInfer's formula slowdown = c0 + c1·G·L + c2·ΣG'·L' (own and co-runners' GFLOP/s
//            times memory load), fitted by least squares: the published baseline.
// A saved predictor is a folder: predictor.toml (format, features, coefficients,
// hyper-parameters) and forest.json (xgboost's JSON model).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "profiler/interference_data.h"

namespace repipe {

struct PredictorOptions {
  std::uint64_t seed = 1;  // evaluation splits, and the trees' row and column sampling
  int threads = 1;         // xgboost threads: fixed, so one seed gives one model everywhere
  // The forest: boosted trees on log(slowdown), so errors count relative to the slowdown.
  int rounds = 300;
  double learning_rate = 0.05;
  int max_depth = 6;
  double min_child_weight = 1;
  double subsample = 0.8;         // rows per tree
  double colsample_bytree = 0.8;  // features per tree
  double l2_regularization = 1;   // xgboost's lambda on leaf weights
  // The least-squares baselines: ridge on standardised features, times the training rows.
  double ridge = 1e-6;
  // Evaluation: the held-out share of rows (random split) or of (probe, interferer) pairs.
  double test_fraction = 0.3;
};

// Least squares y = intercept + Σ_j weight_j · (x_j − mean_j) / scale_j. A feature whose training
// column is constant is ignored (weight 0, scale 1): it carries no information, and it would
// make the normal equations singular.
struct LinearModel {
  double intercept = 0;
  std::vector<double> mean, scale, weight;  // one per feature

  // x: [rows][features]; ridge as in PredictorOptions.
  static LinearModel fit(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                         double ridge);
  double predict(const std::vector<double>& x) const;
  // The same model in the features' own units: y = raw_intercept() + Σ raw_coefficients()_j·x_j.
  std::vector<double> raw_coefficients() const;
  double raw_intercept() const;
};

// DeInfer's interference model: p = b1·G·L + b2·ΣG'·L', ψ linear in p, so
// slowdown = c0 + c1·deinfer_own_gl + c2·deinfer_corunner_gl.
struct DeinferModel {
  double c0 = 1, c1 = 0, c2 = 0;

  static DeinferModel fit(const std::vector<InterferenceRecord>& records, double ridge);
  double predict(double own_gl, double corunner_gl) const {
    return c0 + c1 * own_gl + c2 * corunner_gl;
  }
};

enum class PredictorModel { kForest, kLinear, kDeinfer };

class SlowdownPredictor {
 public:
  // Fits the three models on all `records` (at least 2 rows, else UsageError).
  static SlowdownPredictor train(const std::vector<InterferenceRecord>& records,
                                 const PredictorOptions& options);

  // Writes the folder whole or not at all (a temporary folder, then a rename). An existing
  // predictor folder is replaced; any other existing file or non-empty folder is a UsageError.
  void save(const std::string& model_dir) const;
  // A missing folder, a folder that is not a predictor, another format version or other feature
  // names (a model trained by another repipe) is a UsageError naming the folder or file.
  static SlowdownPredictor load(const std::string& model_dir);

  // The forest's prediction: the slowdown factor (>= 0; 1 means no slowdown).
  double predict_slowdown(const ProbeFeatures& probe, const LoadFeatures& load) const;
  double predict_linear(const ProbeFeatures& probe, const LoadFeatures& load) const;
  double predict_deinfer(double own_gl, double corunner_gl) const;
  // One model's predictions for many rows at once (the forest in one batch).
  std::vector<double> predict(PredictorModel model,
                              const std::vector<InterferenceRecord>& records) const;

  const PredictorOptions& options() const { return options_; }
  std::size_t training_rows() const { return training_rows_; }
  const LinearModel& linear() const { return linear_; }
  const DeinferModel& deinfer() const { return deinfer_; }

  SlowdownPredictor(SlowdownPredictor&&) noexcept;
  SlowdownPredictor& operator=(SlowdownPredictor&&) noexcept;
  ~SlowdownPredictor();

 private:
  class Forest;  // xgboost's booster; its C API stays in the .cc
  SlowdownPredictor();

  PredictorOptions options_;
  std::size_t training_rows_ = 0;
  std::unique_ptr<Forest> forest_;
  LinearModel linear_;
  DeinferModel deinfer_;
};

// ---- Evaluation ------------------------------------------------------------------------------

// The interferer of a row: (kind, intensity, corunners, placement), e.g. "compute/0.5/x2/same".
std::string interferer_key(const InterferenceRecord& record);
// The (probe, interferer) pair of a row; the repeats of one configuration share it.
std::string pair_key(const InterferenceRecord& record);

struct DatasetSummary {
  std::size_t rows = 0, probes = 0, interferers = 0, pairs = 0;
};
DatasetSummary summarize_dataset(const std::vector<InterferenceRecord>& records);

// Row indices of a training and a test side; each sorted, together every row once.
struct DataSplit {
  std::vector<std::size_t> train, test;
};
// round(test_fraction · rows) random rows held out (at least one, and one left to train on).
// Fewer than 2 rows is a UsageError.
DataSplit split_rows(std::size_t rows, double test_fraction, std::uint64_t seed);
// round(test_fraction · pairs) random (probe, interferer) pairs held out whole: every repeat of a
// pair is on one side. A held-out pair's probe and interferer may be in training with other
// partners. Fewer than 2 pairs is a UsageError.
DataSplit split_pairs(const std::vector<InterferenceRecord>& records, double test_fraction,
                      std::uint64_t seed);

// Mean absolute percentage error: mean over i of |predicted_i − actual_i| / |actual_i| · 100.
double mape_percent(const std::vector<double>& predicted, const std::vector<double>& actual);

// How well repeats of one configuration agree: over (probe, interferer) pairs measured at least
// twice, the mean over all ordered pairs of their repeats (i ≠ j) of |s_i − s_j| / s_j · 100.
// No predictor can be trusted to beat it. NaN if no pair was repeated.
double noise_floor_percent(const std::vector<InterferenceRecord>& records);

// Evaluation needs this much data: enough rows and pairs that both sides of a 70/30 split hold
// several. Less is a UsageError.
inline constexpr std::size_t kMinRowsToEvaluate = 10;
inline constexpr std::size_t kMinPairsToEvaluate = 4;

// All figures are MAPE of the slowdown factor, in percent; each model is trained on the split's
// training side and scored on its test side.
struct PredictorEvaluation {
  std::size_t rows = 0, pairs = 0;
  double mape_random = 0;  // forest, random 70/30 row split
  double mape_unseen = 0;  // forest, 30% of (probe, interferer) pairs held out
  double noise_floor = 0;  // noise_floor_percent()
  double baseline_linear_random = 0, baseline_linear_unseen = 0;
  double baseline_deinfer_random = 0, baseline_deinfer_unseen = 0;
};
PredictorEvaluation evaluate_predictor(const std::vector<InterferenceRecord>& records,
                                       const PredictorOptions& options);

}  // namespace repipe
