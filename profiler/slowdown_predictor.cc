// profiler/slowdown_predictor.cc: the slowdown predictor's three models, its model folder and
// its evaluation (see slowdown_predictor.h).
#include "profiler/slowdown_predictor.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <toml++/toml.h>
#include <unistd.h>
#include <xgboost/c_api.h>
#include <Eigen/Dense>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/seed.h"
#include "common/text_format.h"
#include "common/toml_fields.h"

namespace repipe {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "repipe-slowdown-predictor";
constexpr std::int64_t kFormatVersion = 1;
constexpr const char* kTomlFile = "predictor.toml";
constexpr const char* kForestFile = "forest.json";  // .json: XGBoosterSaveModel writes JSON

// Seeds of the two evaluation splits, derived from the user's seed so they differ.
constexpr std::uint64_t kRowSplitStream = 1;
constexpr std::uint64_t kPairSplitStream = 2;

// Every xgboost call goes through this: a failure is an InternalError with xgboost's message.
void xgb_check(int status, const char* call) {
  if (status != 0) throw InternalError(std::string("xgboost: ") + call + ": " + XGBGetLastError());
}

// A DMatrix that frees itself.
class DMatrix {
 public:
  // rows × features values, row-major.
  DMatrix(const std::vector<float>& values, std::size_t rows, std::size_t features) {
    xgb_check(XGDMatrixCreateFromMat(values.data(), rows, features,
                                     std::numeric_limits<float>::quiet_NaN(), &handle_),
              "XGDMatrixCreateFromMat");
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  ~DMatrix() { XGDMatrixFree(handle_); }
  DMatrixHandle get() const { return handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

std::vector<double> record_features(const InterferenceRecord& record) {
  return predictor_features(record.probe_features, record.load);
}

std::vector<std::vector<double>> feature_rows(const std::vector<InterferenceRecord>& records) {
  std::vector<std::vector<double>> rows;
  rows.reserve(records.size());
  for (const InterferenceRecord& r : records) rows.push_back(record_features(r));
  return rows;
}

std::vector<InterferenceRecord> subset(const std::vector<InterferenceRecord>& records,
                                       const std::vector<std::size_t>& rows) {
  std::vector<InterferenceRecord> out;
  out.reserve(rows.size());
  for (std::size_t i : rows) out.push_back(records[i]);
  return out;
}

std::vector<double> slowdowns(const std::vector<InterferenceRecord>& records) {
  std::vector<double> s;
  s.reserve(records.size());
  for (const InterferenceRecord& r : records) s.push_back(r.slowdown);
  return s;
}

// Fisher-Yates with our own index draw: std::shuffle's draws differ between standard
// libraries, and a seed must give the same split everywhere.
template <typename T>
void shuffle_seeded(std::vector<T>& items, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng() % i]);
}

// round(fraction · n), at least 1 and at most n − 1.
std::size_t held_out_count(std::size_t n, double fraction) {
  const auto count = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  return std::clamp<std::size_t>(count, 1, n - 1);
}

// ---- predictor.toml --------------------------------------------------------------------------

std::string toml_array(const std::vector<double>& values) {
  std::string text = "[";
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + toml_float(values[i]);
  return text + "]";
}

std::string toml_array(const std::vector<std::string>& values) {
  std::string text = "[";
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + toml_quoted(values[i]);
  return text + "]";
}

// model_dir without a trailing '/', so that sibling temp folders land beside it, not inside.
fs::path folder_path(const std::string& model_dir) {
  fs::path path = fs::path(model_dir).lexically_normal();
  if (!path.has_filename() && path.has_parent_path()) path = path.parent_path();
  return path;
}

}  // namespace

// ---- LinearModel and DeinferModel --------------------------------------------------------------

LinearModel LinearModel::fit(const std::vector<std::vector<double>>& x,
                             const std::vector<double>& y, double ridge) {
  REPIPE_CHECK(!x.empty() && x.size() == y.size(),
               "linear fit: " << x.size() << " rows, " << y.size() << " targets");
  const std::size_t rows = x.size();
  const std::size_t features = x.front().size();
  LinearModel model;
  model.mean.assign(features, 0);
  model.scale.assign(features, 1);
  model.weight.assign(features, 0);
  std::vector<std::size_t> used;  // features whose training column varies
  for (std::size_t j = 0; j < features; ++j) {
    double sum = 0, low = x[0][j], high = x[0][j];
    for (const auto& row : x) {
      sum += row[j];
      low = std::min(low, row[j]);
      high = std::max(high, row[j]);
    }
    model.mean[j] = sum / static_cast<double>(rows);
    if (low == high) continue;
    double squares = 0;
    for (const auto& row : x) squares += (row[j] - model.mean[j]) * (row[j] - model.mean[j]);
    model.scale[j] = std::sqrt(squares / static_cast<double>(rows));
    used.push_back(j);
  }
  double y_sum = 0;
  for (double v : y) y_sum += v;
  // Centred features: the intercept is the mean target, and only the weights need solving.
  model.intercept = y_sum / static_cast<double>(rows);
  if (used.empty()) return model;

  Eigen::MatrixXd z(rows, used.size());
  Eigen::VectorXd target(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    target(i) = y[i] - model.intercept;
    for (std::size_t k = 0; k < used.size(); ++k) {
      const std::size_t j = used[k];
      z(i, k) = (x[i][j] - model.mean[j]) / model.scale[j];
    }
  }
  Eigen::MatrixXd normal = z.transpose() * z;
  normal.diagonal().array() += ridge * static_cast<double>(rows);
  const Eigen::VectorXd w = normal.ldlt().solve(z.transpose() * target);
  for (std::size_t k = 0; k < used.size(); ++k) model.weight[used[k]] = w(k);
  return model;
}

double LinearModel::predict(const std::vector<double>& x) const {
  REPIPE_CHECK(x.size() == weight.size(),
               "linear model: " << x.size() << " features, expected " << weight.size());
  double y = intercept;
  for (std::size_t j = 0; j < x.size(); ++j) y += weight[j] * (x[j] - mean[j]) / scale[j];
  return y;
}

std::vector<double> LinearModel::raw_coefficients() const {
  std::vector<double> raw(weight.size());
  for (std::size_t j = 0; j < weight.size(); ++j) raw[j] = weight[j] / scale[j];
  return raw;
}

double LinearModel::raw_intercept() const {
  double raw = intercept;
  for (std::size_t j = 0; j < weight.size(); ++j) raw -= weight[j] * mean[j] / scale[j];
  return raw;
}

DeinferModel DeinferModel::fit(const std::vector<InterferenceRecord>& records, double ridge) {
  std::vector<std::vector<double>> x;
  for (const InterferenceRecord& r : records)
    x.push_back({r.deinfer_own_gl, r.deinfer_corunner_gl});
  const LinearModel linear = LinearModel::fit(x, slowdowns(records), ridge);
  const std::vector<double> c = linear.raw_coefficients();
  return DeinferModel{linear.raw_intercept(), c[0], c[1]};
}

// ---- The forest --------------------------------------------------------------------------------

// An xgboost booster (gradient-boosted trees on log(slowdown)); owns its handle.
class SlowdownPredictor::Forest {
 public:
  explicit Forest(BoosterHandle handle) : handle_(handle) {}
  Forest(const Forest&) = delete;
  Forest& operator=(const Forest&) = delete;
  ~Forest() { XGBoosterFree(handle_); }

  static std::unique_ptr<Forest> train(const std::vector<std::vector<double>>& x,
                                       const std::vector<double>& slowdown,
                                       const PredictorOptions& options) {
    const std::size_t features = x.front().size();
    std::vector<float> values;
    values.reserve(x.size() * features);
    for (const auto& row : x) values.insert(values.end(), row.begin(), row.end());
    std::vector<float> labels;
    double label_sum = 0;
    for (double s : slowdown) {
      labels.push_back(static_cast<float>(std::log(s)));
      label_sum += std::log(s);
    }
    DMatrix data(values, x.size(), features);
    xgb_check(XGDMatrixSetFloatInfo(data.get(), "label", labels.data(), labels.size()),
              "XGDMatrixSetFloatInfo");
    // Named features make forest.json readable on its own (xgboost keeps the names).
    const std::vector<std::string> names = predictor_feature_names();
    std::vector<const char*> name_pointers;
    for (const std::string& name : names) name_pointers.push_back(name.c_str());
    xgb_check(XGDMatrixSetStrFeatureInfo(data.get(), "feature_name", name_pointers.data(),
                                         name_pointers.size()),
              "XGDMatrixSetStrFeatureInfo");
    DMatrixHandle train_data = data.get();
    BoosterHandle handle = nullptr;
    xgb_check(XGBoosterCreate(&train_data, 1, &handle), "XGBoosterCreate");
    auto forest = std::make_unique<Forest>(handle);
    forest->set_runtime_params(options);
    const std::vector<std::pair<std::string, std::string>> params = {
        {"objective", "reg:squarederror"},
        {"tree_method", "hist"},
        // Start from the mean log slowdown, not xgboost's default 0.5.
        {"base_score", format_double(label_sum / static_cast<double>(labels.size()))},
        {"eta", format_double(options.learning_rate)},
        {"max_depth", std::to_string(options.max_depth)},
        {"min_child_weight", format_double(options.min_child_weight)},
        {"subsample", format_double(options.subsample)},
        {"colsample_bytree", format_double(options.colsample_bytree)},
        {"lambda", format_double(options.l2_regularization)},
        // xgboost's seed is an int; fold the 64-bit seed into it.
        {"seed", std::to_string(mix_seed(options.seed, 0) & 0x7fffffff)},
    };
    for (const auto& [name, value] : params) forest->set_param(name, value);
    for (int round = 0; round < options.rounds; ++round) {
      xgb_check(XGBoosterUpdateOneIter(handle, round, data.get()), "XGBoosterUpdateOneIter");
    }
    return forest;
  }

  static std::unique_ptr<Forest> load(const std::string& path, std::size_t features,
                                      const PredictorOptions& options) {
    BoosterHandle handle = nullptr;
    xgb_check(XGBoosterCreate(nullptr, 0, &handle), "XGBoosterCreate");
    auto forest = std::make_unique<Forest>(handle);
    forest->set_runtime_params(options);
    if (XGBoosterLoadModel(handle, path.c_str()) != 0) {
      throw UsageError(path + ": not an xgboost model (" + XGBGetLastError() + ")");
    }
    bst_ulong model_features = 0;
    xgb_check(XGBoosterGetNumFeature(handle, &model_features), "XGBoosterGetNumFeature");
    if (model_features != features) {
      throw UsageError(path + ": the forest has " + std::to_string(model_features) +
                       " features, predictor.toml names " + std::to_string(features));
    }
    return forest;
  }

  void save(const std::string& path) const {
    xgb_check(XGBoosterSaveModel(handle_, path.c_str()), "XGBoosterSaveModel");
  }

  // Slowdown factors for rows × features values.
  std::vector<double> predict(const std::vector<std::vector<double>>& x) const {
    if (x.empty()) return {};
    const std::size_t features = x.front().size();
    std::vector<float> values;
    values.reserve(x.size() * features);
    for (const auto& row : x) values.insert(values.end(), row.begin(), row.end());
    DMatrix data(values, x.size(), features);
    bst_ulong length = 0;
    const float* result = nullptr;
    xgb_check(XGBoosterPredict(handle_, data.get(), 0, 0, 0, &length, &result), "XGBoosterPredict");
    REPIPE_CHECK(length == x.size(),
                 "xgboost returned " << length << " predictions for " << x.size() << " rows");
    std::vector<double> slowdown(length);
    for (std::size_t i = 0; i < length; ++i) slowdown[i] = std::exp(static_cast<double>(result[i]));
    return slowdown;
  }

 private:
  void set_param(const std::string& name, const std::string& value) {
    xgb_check(XGBoosterSetParam(handle_, name.c_str(), value.c_str()), "XGBoosterSetParam");
  }
  // Not stored in the model file: set after loading too.
  void set_runtime_params(const PredictorOptions& options) {
    set_param("verbosity", "0");
    set_param("nthread", std::to_string(options.threads));
  }

  BoosterHandle handle_;
};

// ---- SlowdownPredictor -------------------------------------------------------------------------

SlowdownPredictor::SlowdownPredictor() = default;
SlowdownPredictor::SlowdownPredictor(SlowdownPredictor&&) noexcept = default;
SlowdownPredictor& SlowdownPredictor::operator=(SlowdownPredictor&&) noexcept = default;
SlowdownPredictor::~SlowdownPredictor() = default;

SlowdownPredictor SlowdownPredictor::train(const std::vector<InterferenceRecord>& records,
                                           const PredictorOptions& options) {
  if (records.size() < 2) {
    throw UsageError("the slowdown predictor needs at least 2 rows to train on, got " +
                     std::to_string(records.size()));
  }
  for (const InterferenceRecord& r : records) {
    if (!(r.slowdown > 0) || !std::isfinite(r.slowdown)) {
      throw UsageError("row of probe '" + r.probe + "': expected a slowdown > 0, got " +
                       format_double(r.slowdown));
    }
  }
  const std::vector<std::vector<double>> x = feature_rows(records);
  const std::vector<double> y = slowdowns(records);
  SlowdownPredictor predictor;
  predictor.options_ = options;
  predictor.training_rows_ = records.size();
  predictor.forest_ = Forest::train(x, y, options);
  predictor.linear_ = LinearModel::fit(x, y, options.ridge);
  predictor.deinfer_ = DeinferModel::fit(records, options.ridge);
  return predictor;
}

double SlowdownPredictor::predict_slowdown(const ProbeFeatures& probe,
                                           const LoadFeatures& load) const {
  return forest_->predict({predictor_features(probe, load)}).front();
}

double SlowdownPredictor::predict_linear(const ProbeFeatures& probe,
                                         const LoadFeatures& load) const {
  return linear_.predict(predictor_features(probe, load));
}

double SlowdownPredictor::predict_deinfer(double own_gl, double corunner_gl) const {
  return deinfer_.predict(own_gl, corunner_gl);
}

std::vector<double> SlowdownPredictor::predict(
    PredictorModel model, const std::vector<InterferenceRecord>& records) const {
  std::vector<double> out;
  switch (model) {
    case PredictorModel::kForest:
      return forest_->predict(feature_rows(records));
    case PredictorModel::kLinear:
      for (const InterferenceRecord& r : records)
        out.push_back(linear_.predict(record_features(r)));
      return out;
    case PredictorModel::kDeinfer:
      for (const InterferenceRecord& r : records) {
        out.push_back(deinfer_.predict(r.deinfer_own_gl, r.deinfer_corunner_gl));
      }
      return out;
  }
  REPIPE_CHECK(false, "unknown predictor model " << static_cast<int>(model));
}

void SlowdownPredictor::save(const std::string& model_dir) const {
  const fs::path target = folder_path(model_dir);
  std::error_code error;
  const bool replacing = fs::exists(target, error);
  if (replacing) {
    if (!fs::is_directory(target, error)) {
      throw UsageError(model_dir + ": exists and is not a folder (expected a predictor folder)");
    }
    if (!fs::is_empty(target, error) && !fs::exists(target / kTomlFile, error)) {
      throw UsageError(model_dir + ": a folder that is not a predictor (no " +
                       std::string(kTomlFile) + "); not overwriting it");
    }
  }
  const std::vector<std::string> names = predictor_feature_names();
  std::ostringstream toml;
  toml << "# repipe slowdown predictor, written by `repipe predictor train`; read by `repipe\n"
       << "# predictor eval` and the replanner. The forest is " << kForestFile
       << " (xgboost's JSON model).\n"
       << "format = " << toml_quoted(kFormat) << "\n"
       << "version = " << kFormatVersion << "\n"
       << "training_rows = " << training_rows_ << "\n"
       << "test_fraction = " << toml_float(options_.test_fraction) << "\n"
       << "features = " << toml_array(names) << "\n\n"
       << "[forest]  # gradient-boosted trees predicting log(slowdown)\n"
       << "file = " << toml_quoted(kForestFile) << "\n"
       << "target = " << toml_quoted("log_slowdown") << "\n"
       << "rounds = " << options_.rounds << "\n"
       << "learning_rate = " << toml_float(options_.learning_rate) << "\n"
       << "max_depth = " << options_.max_depth << "\n"
       << "min_child_weight = " << toml_float(options_.min_child_weight) << "\n"
       << "subsample = " << toml_float(options_.subsample) << "\n"
       << "colsample_bytree = " << toml_float(options_.colsample_bytree) << "\n"
       << "l2_regularization = " << toml_float(options_.l2_regularization) << "\n"
       << "seed = " << static_cast<std::int64_t>(options_.seed) << "\n"
       << "threads = " << options_.threads << "\n\n"
       << "# slowdown = intercept + sum of weight * (feature - mean) / scale (weight 0: the\n"
       << "# feature's training column was constant)\n"
       << "[linear]\n"
       << "ridge = " << toml_float(options_.ridge) << "\n"
       << "intercept = " << toml_float(linear_.intercept) << "\n"
       << "mean = " << toml_array(linear_.mean) << "\n"
       << "scale = " << toml_array(linear_.scale) << "\n"
       << "weight = " << toml_array(linear_.weight) << "\n\n"
       << "[deinfer]  # slowdown = c0 + c1 * deinfer_own_gl + c2 * deinfer_corunner_gl\n"
       << "c0 = " << toml_float(deinfer_.c0) << "\n"
       << "c1 = " << toml_float(deinfer_.c1) << "\n"
       << "c2 = " << toml_float(deinfer_.c2) << "\n";

  // Build the whole folder beside the target, then swap it in: readers see the old predictor
  // or the new one, never a mix.
  if (target.has_parent_path()) create_folder(target.parent_path());
  const std::string pid = std::to_string(::getpid());
  fs::path temp = target;
  temp += ".tmp.";
  temp += pid;
  fs::path old = target;
  old += ".old.";
  old += pid;
  fs::remove_all(temp, error);
  create_folder(temp);
  try {
    forest_->save((temp / kForestFile).string());
    write_file_atomically(temp / kTomlFile, toml.str());
    if (replacing) fs::rename(target, old);
    fs::rename(temp, target);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(temp, error);
    throw UsageError(model_dir + ": cannot write the predictor: " + e.code().message());
  } catch (...) {
    fs::remove_all(temp, error);
    throw;
  }
  if (replacing) fs::remove_all(old, error);
}

SlowdownPredictor SlowdownPredictor::load(const std::string& model_dir) {
  const fs::path folder = folder_path(model_dir);
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    throw UsageError(model_dir + ": no such predictor folder (expected the -o folder of `repipe " +
                     "predictor train`)");
  }
  const std::string toml_path = (folder / kTomlFile).string();
  if (!fs::is_regular_file(toml_path, error)) {
    throw UsageError(model_dir + ": not a predictor folder (no " + std::string(kTomlFile) + ")");
  }
  const toml::table table = parse_toml_file(toml_path, "a slowdown predictor");
  const TomlFields toml(toml_path, table);
  const std::string format = toml.text("format");
  if (format != kFormat) {
    toml.fail("format", std::string("'") + kFormat + "', got '" + format +
                            "' (not a repipe slowdown predictor)");
  }
  const std::int64_t version = toml.integer("version");
  if (version != kFormatVersion) {
    toml.fail("version", std::to_string(kFormatVersion) + " (this repipe's format), got " +
                             std::to_string(version) + " (retrain the predictor)");
  }
  const std::vector<std::string> names = predictor_feature_names();
  const std::vector<std::string> model_names = toml.texts("features");
  for (std::size_t j = 0; j < std::max(names.size(), model_names.size()); ++j) {
    const std::string mine = j < names.size() ? names[j] : "(none)";
    const std::string theirs = j < model_names.size() ? model_names[j] : "(none)";
    if (mine != theirs) {
      toml.fail("features", "this repipe's features; feature " + std::to_string(j + 1) + " is '" +
                                theirs + "', this repipe's is '" + mine +
                                "' (retrain the predictor)");
    }
  }
  const std::size_t features = names.size();

  SlowdownPredictor predictor;
  PredictorOptions& o = predictor.options_;
  const std::int64_t rows = toml.integer("training_rows");
  if (rows < 0) toml.fail("training_rows", "an integer >= 0");
  predictor.training_rows_ = static_cast<std::size_t>(rows);
  o.test_fraction = toml.number("test_fraction");
  const TomlFields forest = toml.table("forest");
  o.rounds = static_cast<int>(forest.integer("rounds"));
  o.learning_rate = forest.number("learning_rate");
  o.max_depth = static_cast<int>(forest.integer("max_depth"));
  o.min_child_weight = forest.number("min_child_weight");
  o.subsample = forest.number("subsample");
  o.colsample_bytree = forest.number("colsample_bytree");
  o.l2_regularization = forest.number("l2_regularization");
  o.seed = static_cast<std::uint64_t>(forest.integer("seed"));
  o.threads = static_cast<int>(forest.integer("threads"));
  if (o.threads < 1) forest.fail("threads", "an integer >= 1");
  if (forest.text("target") != "log_slowdown") forest.fail("target", "'log_slowdown'");
  const TomlFields linear = toml.table("linear");
  o.ridge = linear.number("ridge");
  predictor.linear_.intercept = linear.number("intercept");
  const std::string per_feature = "an array of " + std::to_string(features) + " numbers";
  for (auto [key, values] :
       {std::pair{"mean", &predictor.linear_.mean}, std::pair{"scale", &predictor.linear_.scale},
        std::pair{"weight", &predictor.linear_.weight}}) {
    *values = linear.numbers(key, per_feature);
    if (values->size() != features) linear.fail(key, per_feature);
  }
  for (double s : predictor.linear_.scale) {
    if (!(s > 0)) linear.fail("scale", "numbers > 0");
  }
  const TomlFields deinfer = toml.table("deinfer");
  predictor.deinfer_ =
      DeinferModel{deinfer.number("c0"), deinfer.number("c1"), deinfer.number("c2")};

  const fs::path forest_path = folder / forest.text("file");
  if (!fs::is_regular_file(forest_path, error)) {
    throw UsageError(forest_path.string() + ": missing (the predictor's forest)");
  }
  predictor.forest_ = Forest::load(forest_path.string(), features, o);
  return predictor;
}

// ---- Evaluation --------------------------------------------------------------------------------

std::string interferer_key(const InterferenceRecord& r) {
  return r.kind + "/" + format_double(r.intensity) + "/x" + std::to_string(r.corunners) + "/" +
         r.placement;
}

std::string pair_key(const InterferenceRecord& r) {
  return r.probe + " | " + interferer_key(r);
}

DatasetSummary summarize_dataset(const std::vector<InterferenceRecord>& records) {
  std::set<std::string> probes, interferers, pairs;
  for (const InterferenceRecord& r : records) {
    probes.insert(r.probe);
    interferers.insert(interferer_key(r));
    pairs.insert(pair_key(r));
  }
  return {records.size(), probes.size(), interferers.size(), pairs.size()};
}

DataSplit split_rows(std::size_t rows, double test_fraction, std::uint64_t seed) {
  if (rows < 2) {
    throw UsageError("cannot split " + std::to_string(rows) +
                     " rows into training and test rows (need at least 2)");
  }
  std::vector<std::size_t> order(rows);
  for (std::size_t i = 0; i < rows; ++i) order[i] = i;
  shuffle_seeded(order, mix_seed(seed, kRowSplitStream));
  const std::size_t test = held_out_count(rows, test_fraction);
  DataSplit split;
  split.test.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(test));
  split.train.assign(order.begin() + static_cast<std::ptrdiff_t>(test), order.end());
  std::sort(split.test.begin(), split.test.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

DataSplit split_pairs(const std::vector<InterferenceRecord>& records, double test_fraction,
                      std::uint64_t seed) {
  // Sorted pair names: the split depends on the seed and the set of pairs, not the row order.
  std::set<std::string> pair_set;
  for (const InterferenceRecord& r : records) pair_set.insert(pair_key(r));
  std::vector<std::string> pairs(pair_set.begin(), pair_set.end());
  if (pairs.size() < 2) {
    throw UsageError("cannot hold out (probe, interferer) pairs: the data has " +
                     std::to_string(pairs.size()) + " (need at least 2)");
  }
  shuffle_seeded(pairs, mix_seed(seed, kPairSplitStream));
  const std::set<std::string> held_out(
      pairs.begin(),
      pairs.begin() + static_cast<std::ptrdiff_t>(held_out_count(pairs.size(), test_fraction)));
  DataSplit split;
  for (std::size_t i = 0; i < records.size(); ++i) {
    (held_out.count(pair_key(records[i])) ? split.test : split.train).push_back(i);
  }
  return split;
}

double mape_percent(const std::vector<double>& predicted, const std::vector<double>& actual) {
  REPIPE_CHECK(!actual.empty() && predicted.size() == actual.size(),
               "MAPE of " << predicted.size() << " predictions against " << actual.size());
  double sum = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    sum += std::fabs(predicted[i] - actual[i]) / std::fabs(actual[i]);
  }
  return 100 * sum / static_cast<double>(actual.size());
}

double noise_floor_percent(const std::vector<InterferenceRecord>& records) {
  std::map<std::string, std::vector<double>> repeats;
  for (const InterferenceRecord& r : records) repeats[pair_key(r)].push_back(r.slowdown);
  double sum = 0;
  std::size_t count = 0;
  for (const auto& [pair, s] : repeats) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      for (std::size_t j = 0; j < s.size(); ++j) {
        if (i == j) continue;
        sum += std::fabs(s[i] - s[j]) / s[j];
        ++count;
      }
    }
  }
  return count ? 100 * sum / static_cast<double>(count) : std::nan("");
}

PredictorEvaluation evaluate_predictor(const std::vector<InterferenceRecord>& records,
                                       const PredictorOptions& options) {
  const DatasetSummary summary = summarize_dataset(records);
  if (summary.rows < kMinRowsToEvaluate || summary.pairs < kMinPairsToEvaluate) {
    throw UsageError(
        "evaluating the predictor needs at least " + std::to_string(kMinRowsToEvaluate) +
        " rows and " + std::to_string(kMinPairsToEvaluate) + " (probe, interferer) pairs, got " +
        std::to_string(summary.rows) + " rows and " + std::to_string(summary.pairs) + " pairs");
  }
  PredictorEvaluation evaluation;
  evaluation.rows = summary.rows;
  evaluation.pairs = summary.pairs;
  evaluation.noise_floor = noise_floor_percent(records);

  // Trains on one side, returns the three models' MAPE on the other.
  auto score = [&](const DataSplit& split) {
    const std::vector<InterferenceRecord> test = subset(records, split.test);
    const SlowdownPredictor predictor =
        SlowdownPredictor::train(subset(records, split.train), options);
    const std::vector<double> actual = slowdowns(test);
    return std::array<double, 3>{
        mape_percent(predictor.predict(PredictorModel::kForest, test), actual),
        mape_percent(predictor.predict(PredictorModel::kLinear, test), actual),
        mape_percent(predictor.predict(PredictorModel::kDeinfer, test), actual)};
  };
  const auto random = score(split_rows(records.size(), options.test_fraction, options.seed));
  const auto unseen = score(split_pairs(records, options.test_fraction, options.seed));
  evaluation.mape_random = random[0];
  evaluation.baseline_linear_random = random[1];
  evaluation.baseline_deinfer_random = random[2];
  evaluation.mape_unseen = unseen[0];
  evaluation.baseline_linear_unseen = unseen[1];
  evaluation.baseline_deinfer_unseen = unseen[2];
  return evaluation;
}

}  // namespace repipe
