// launch/predictor_command.cc: `repipe predictor train|eval` over profiler/slowdown_predictor.
#include "launch/predictor_command.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "profiler/interference_data.h"
#include "profiler/slowdown_predictor.h"

namespace repipe {
namespace {

// A percentage for key=value output: three decimals, "nan" where there is no value.
std::string percent(double value) {
  if (std::isnan(value)) return "nan";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", value);
  return text;
}

int train(const PredictorCommand& c) {
  const std::vector<InterferenceRecord> records = load_interference_csv(c.data_path);
  PredictorOptions options;
  options.seed = c.seed;
  const SlowdownPredictor predictor = SlowdownPredictor::train(records, options);
  predictor.save(c.output);
  const DatasetSummary summary = summarize_dataset(records);
  std::printf(
      "trained the slowdown predictor on %zu rows: %zu probes, %zu interferers, %zu "
      "(probe, interferer) pairs, %zu features\n",
      summary.rows, summary.probes, summary.interferers, summary.pairs,
      predictor_feature_names().size());
  std::printf("wrote %s (predictor.toml, forest.json)\n", c.output.c_str());
  return 0;
}

int evaluate(const PredictorCommand& c) {
  // The model first: a bad folder is reported before minutes of training.
  const SlowdownPredictor model = SlowdownPredictor::load(c.model_dir);
  const std::vector<InterferenceRecord> records = load_interference_csv(c.data_path);
  // The splits retrain with the saved model's hyper-parameters, so the figures describe it.
  PredictorOptions options = model.options();
  options.seed = c.seed;
  const PredictorEvaluation e = evaluate_predictor(records, options);
  std::vector<double> actual;
  for (const InterferenceRecord& r : records) actual.push_back(r.slowdown);
  const double mape_model = mape_percent(model.predict(PredictorModel::kForest, records), actual);
  std::printf("rows=%zu\n", e.rows);
  std::printf("pairs=%zu\n", e.pairs);
  std::printf("mape_random=%s\n", percent(e.mape_random).c_str());
  std::printf("mape_unseen=%s\n", percent(e.mape_unseen).c_str());
  std::printf("noise_floor=%s\n", percent(e.noise_floor).c_str());
  std::printf("baseline_linear_random=%s\n", percent(e.baseline_linear_random).c_str());
  std::printf("baseline_linear_unseen=%s\n", percent(e.baseline_linear_unseen).c_str());
  std::printf("baseline_deinfer_random=%s\n", percent(e.baseline_deinfer_random).c_str());
  std::printf("baseline_deinfer_unseen=%s\n", percent(e.baseline_deinfer_unseen).c_str());
  std::printf("mape_model=%s\n", percent(mape_model).c_str());
  return 0;
}

}  // namespace

CLI::App* add_predictor_command(CLI::App& app, PredictorCommand& command) {
  CLI::App* predictor = app.add_subcommand(
      "predictor", "Train the slowdown predictor on an interference dataset, or evaluate it");
  // At most one; none is reported by run_predictor_command, and an unknown one as unexpected.
  predictor->require_subcommand(0, 1);

  CLI::App* train = predictor->add_subcommand(
      "train", "Fit the predictor on every row of the dataset and write a model folder");
  train->add_option("--data", command.data_path, "interference dataset CSV")->required();
  train->add_option("-o,--output", command.output, "the model folder to write")->required();
  train->add_option("--seed", command.seed, "seed of the trees' row and column sampling");
  train->callback([&command] { command.action = "train"; });

  CLI::App* eval = predictor->add_subcommand(
      "eval", "MAPE of the predictor and its baselines on random and held-out-pair splits");
  eval->add_option("--data", command.data_path, "interference dataset CSV")->required();
  eval->add_option("--model", command.model_dir, "model folder from `repipe predictor train`")
      ->required();
  eval->add_option("--seed", command.seed, "seed of the splits and the retrained trees");
  eval->callback([&command] { command.action = "eval"; });
  return predictor;
}

int run_predictor_command(const PredictorCommand& command) {
  if (command.action == "train") return train(command);
  if (command.action == "eval") return evaluate(command);
  throw UsageError("predictor: expected a subcommand: train or eval (see --help)");
}

}  // namespace repipe
