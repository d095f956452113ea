// Tests of the slowdown predictor: the error measures on hand cases, the splits, the two
// least-squares models on noiseless data, the forest against the linear model on a nonlinear
// dataset, and the model folder (save, load, refuse).
#include "profiler/slowdown_predictor.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

double uniform(std::mt19937_64& rng, double low, double high) {
  return std::uniform_real_distribution<double>(low, high)(rng);
}

// A dataset shaped like a real collection: `probes` probes, each measured under `interferers`
// loads, `repeats` times each. Each load's features jitter a little between repeats; the
// slowdown is `truth(record)` times a little multiplicative noise.
template <typename Truth>
std::vector<InterferenceRecord> synthetic_dataset(int probes, int interferers, int repeats,
                                                  double noise, std::uint64_t seed, Truth truth) {
  std::mt19937_64 rng(seed);
  std::vector<ProbeFeatures> probe_features;
  for (int p = 0; p < probes; ++p) {
    ProbeFeatures f;
    f.gflop = uniform(rng, 0.1, 50);
    f.mbytes = uniform(rng, 1, 500);
    f.mparams = uniform(rng, 0.01, 100);
    f.count_linear = static_cast<int>(uniform(rng, 0, 20));
    f.count_conv = static_cast<int>(uniform(rng, 0, 20));
    f.count_norm = static_cast<int>(uniform(rng, 0, 10));
    f.count_activation = static_cast<int>(uniform(rng, 0, 30));
    f.count_pool = static_cast<int>(uniform(rng, 0, 5));
    f.count_attention = static_cast<int>(uniform(rng, 0, 12));
    f.count_embedding = 0;  // constant: the linear model must ignore it
    f.alone_ms = uniform(rng, 1, 100);
    f.gflops = 1000 * f.gflop / f.alone_ms;
    f.gbps = f.mbytes / f.alone_ms;
    probe_features.push_back(f);
  }
  const char* kinds[] = {"compute", "memory", "mixed"};
  std::vector<InterferenceRecord> interferer_rows;
  for (int i = 0; i < interferers; ++i) {
    InterferenceRecord r;
    r.kind = kinds[i % 3];
    r.intensity = 0.05 * (1 + i % 20);
    r.corunners = 1 + i % 4;
    r.placement = i % 2 ? "same" : "other";
    r.load.cpu_util = uniform(rng, 0, 1);
    r.load.probe_core_util = uniform(rng, 0, 1);
    r.load.run_queue = uniform(rng, 0, 6);
    r.load.ctx_switches_per_s = uniform(rng, 1e3, 1e5);
    r.load.compute_fraction = uniform(rng, 0.2, 1);
    r.load.memory_fraction = uniform(rng, 0.2, 1);
    r.load.llc_misses_per_s = -1;  // constant: no hardware counters
    r.corunner_gflops = uniform(rng, 0, 100);
    r.corunner_gbps = uniform(rng, 0, 20);
    interferer_rows.push_back(r);
  }
  std::vector<InterferenceRecord> records;
  for (int p = 0; p < probes; ++p) {
    for (const InterferenceRecord& interferer : interferer_rows) {
      for (int k = 0; k < repeats; ++k) {
        InterferenceRecord r = interferer;
        r.probe = "probe" + std::to_string(p) + "@b8";
        r.model = "probe" + std::to_string(p);
        r.batch_size = 8;
        r.repeat = k;
        r.probe_features = probe_features[static_cast<std::size_t>(p)];
        r.load.probe_core_util =
            std::clamp(r.load.probe_core_util + uniform(rng, -0.01, 0.01), 0.0, 1.0);
        r.load.cpu_util += uniform(rng, -0.01, 0.01);
        r.peak_gbps = 40;
        r.deinfer_own_gl = r.probe_features.gflops * 100 * r.probe_features.gbps / r.peak_gbps;
        r.deinfer_corunner_gl = r.corunner_gflops * 100 * r.corunner_gbps / r.peak_gbps;
        r.slowdown = truth(r) * (1 + uniform(rng, -noise, noise));
        r.colocated_ms = r.probe_features.alone_ms * r.slowdown;
        records.push_back(r);
      }
    }
  }
  return records;
}

// Nonlinear in the load: a product, and a threshold on the probe's kind of work.
double nonlinear_truth(const InterferenceRecord& r) {
  const double memory_heavy = r.probe_features.count_conv > 10 ? 1.0 : 0.2;
  return 1 + 2 * r.load.probe_core_util * (1 - r.load.compute_fraction) +
         memory_heavy * (1 - r.load.memory_fraction) * (1 - r.load.memory_fraction);
}

std::vector<InterferenceRecord> nonlinear_dataset() {
  return synthetic_dataset(10, 20, 3, 0.005, 7, nonlinear_truth);
}

InterferenceRecord with_pair(const std::string& probe, const std::string& kind, double slowdown) {
  InterferenceRecord r;
  r.probe = probe;
  r.kind = kind;
  r.intensity = 0.5;
  r.corunners = 1;
  r.placement = "same";
  r.slowdown = slowdown;
  return r;
}

class PredictorFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("repipe_predictor_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string load_error(const fs::path& folder) {
    try {
      SlowdownPredictor::load(folder.string());
    } catch (const UsageError& error) {
      return error.what();
    }
    ADD_FAILURE() << "loaded " << folder;
    return "";
  }

  fs::path dir_;
};

TEST(SlowdownMetrics, MapeOnAHandCase) {
  // |1.1-1|/1 = 10%, |2-2.5|/2.5 = 20%, |0.9-1|/1 = 10%.
  EXPECT_NEAR(mape_percent({1.1, 2.0, 0.9}, {1.0, 2.5, 1.0}), 40.0 / 3, 1e-12);
  EXPECT_EQ(mape_percent({1.5}, {1.5}), 0);
  EXPECT_THROW(mape_percent({1.0}, {1.0, 2.0}), InternalError);
}

TEST(SlowdownMetrics, NoiseFloorOnAHandCase) {
  const std::vector<InterferenceRecord> records = {
      with_pair("a", "compute", 1.0), with_pair("a", "compute", 1.2),  // a pair measured twice
      with_pair("b", "compute", 2.0),                                  // once: no say
      with_pair("c", "memory", 2.0),  with_pair("c", "memory", 2.0),
      with_pair("c", "memory", 3.0),  // three repeats: six ordered pairs
  };
  // a: |1-1.2|/1.2 + |1.2-1|/1; c: 0 + 0 + 2·|2-3|/3 + 2·|3-2|/2; over 2 + 6 ordered pairs.
  const double expected = 100 * (0.2 / 1.2 + 0.2 + 2.0 / 3 + 1.0) / 8;
  EXPECT_NEAR(noise_floor_percent(records), expected, 1e-12);
  EXPECT_TRUE(std::isnan(noise_floor_percent({with_pair("a", "compute", 1.0)})));
}

TEST(SlowdownSplits, RowSplitIsSeededAndCoversEveryRowOnce) {
  const DataSplit split = split_rows(100, 0.3, 5);
  EXPECT_EQ(split.test.size(), 30u);
  EXPECT_EQ(split.train.size(), 70u);
  std::set<std::size_t> all(split.train.begin(), split.train.end());
  all.insert(split.test.begin(), split.test.end());
  EXPECT_EQ(all.size(), 100u);
  EXPECT_EQ(split_rows(100, 0.3, 5).test, split.test);
  EXPECT_NE(split_rows(100, 0.3, 6).test, split.test);
  EXPECT_EQ(split_rows(2, 0.3, 1).test.size(), 1u);  // at least one on each side
  EXPECT_THROW(split_rows(1, 0.3, 1), UsageError);
}

TEST(SlowdownSplits, UnseenSplitKeepsEveryPairOnOneSide) {
  const std::vector<InterferenceRecord> records =
      synthetic_dataset(6, 10, 3, 0, 3, [](const InterferenceRecord&) { return 1.0; });
  const DataSplit split = split_pairs(records, 0.3, 11);
  std::set<std::string> train_pairs, test_pairs, test_probes, test_interferers;
  for (std::size_t i : split.train) train_pairs.insert(pair_key(records[i]));
  for (std::size_t i : split.test) {
    test_pairs.insert(pair_key(records[i]));
    test_probes.insert(records[i].probe);
    test_interferers.insert(interferer_key(records[i]));
  }
  EXPECT_EQ(split.train.size() + split.test.size(), records.size());
  EXPECT_EQ(test_pairs.size(), 18u);  // 30% of 60 pairs
  EXPECT_EQ(train_pairs.size(), 42u);
  for (const std::string& pair : test_pairs) EXPECT_EQ(train_pairs.count(pair), 0u) << pair;
  EXPECT_EQ(split.test.size(), 18u * 3);  // all repeats of a held-out pair are held out
  // A random pair split holds out many probes and interferers, not whole ones.
  EXPECT_GT(test_probes.size(), 1u);
  EXPECT_GT(test_interferers.size(), 1u);

  EXPECT_EQ(split_pairs(records, 0.3, 11).test, split.test);
  EXPECT_NE(split_pairs(records, 0.3, 12).test, split.test);
  // The split depends on the pairs, not on the order of the rows.
  std::vector<InterferenceRecord> reversed(records.rbegin(), records.rend());
  std::set<std::string> reversed_test;
  for (std::size_t i : split_pairs(reversed, 0.3, 11).test)
    reversed_test.insert(pair_key(reversed[i]));
  EXPECT_EQ(reversed_test, test_pairs);
  EXPECT_THROW(split_pairs({with_pair("a", "compute", 1), with_pair("a", "compute", 1.1)}, 0.3, 1),
               UsageError);
}

TEST(SlowdownModels, LinearRecoversExactCoefficientsOnNoiselessData) {
  std::mt19937_64 rng(21);
  std::vector<std::vector<double>> x;
  for (int i = 0; i < 200; ++i) {
    ProbeFeatures p{uniform(rng, 0, 50),
                    uniform(rng, 0, 500),
                    uniform(rng, 0, 100),
                    static_cast<int>(uniform(rng, 0, 20)),
                    static_cast<int>(uniform(rng, 0, 20)),
                    static_cast<int>(uniform(rng, 0, 10)),
                    static_cast<int>(uniform(rng, 0, 30)),
                    static_cast<int>(uniform(rng, 0, 5)),
                    static_cast<int>(uniform(rng, 0, 12)),
                    3,  // count_embedding: constant
                    uniform(rng, 1, 100),
                    uniform(rng, 0, 1000),
                    uniform(rng, 0, 50)};
    LoadFeatures l{uniform(rng, 0, 1),
                   uniform(rng, 0, 1),
                   uniform(rng, 0, 6),
                   uniform(rng, 1e3, 1e5),
                   uniform(rng, 0.2, 1),
                   uniform(rng, 0.2, 1),
                   -1};  // llc: constant
    x.push_back(predictor_features(p, l));
  }
  // Coefficients in the features' units, each feature moving the slowdown by up to ±0.2.
  const std::size_t features = x.front().size();
  std::vector<double> coefficient(features);
  for (std::size_t j = 0; j < features; ++j) {
    double high = 1e-9;
    for (const auto& row : x) high = std::max(high, std::fabs(row[j]));
    coefficient[j] = uniform(rng, -0.2, 0.2) / high;
  }
  std::vector<double> y;
  for (const auto& row : x) {
    double target = 1.5;
    for (std::size_t j = 0; j < features; ++j) target += coefficient[j] * row[j];
    y.push_back(target);
  }
  const LinearModel model = LinearModel::fit(x, y, PredictorOptions().ridge);
  const std::vector<double> raw = model.raw_coefficients();
  const std::vector<std::string> names = predictor_feature_names();
  for (std::size_t j = 0; j < features; ++j) {
    if (names[j] == "count_embedding" || names[j] == "load_llc_misses_per_s") {
      EXPECT_EQ(model.weight[j], 0) << names[j] << ": constant in training, so ignored";
      continue;
    }
    EXPECT_NEAR(raw[j], coefficient[j], 1e-4 * std::fabs(coefficient[j])) << names[j];
  }
  // The intercept absorbs the constant columns' contribution.
  EXPECT_NEAR(model.raw_intercept(), 1.5 + coefficient[9] * 3 - coefficient[19], 1e-4);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_NEAR(model.predict(x[i]), y[i], 1e-4);
}

TEST(SlowdownModels, DeinferRecoversItsCoefficients) {
  std::mt19937_64 rng(4);
  std::vector<InterferenceRecord> records;
  for (int i = 0; i < 50; ++i) {
    InterferenceRecord r;
    r.deinfer_own_gl = uniform(rng, 0, 5e4);
    r.deinfer_corunner_gl = uniform(rng, 0, 2e5);
    r.slowdown = 1.02 + 3e-6 * r.deinfer_own_gl + 1.2e-6 * r.deinfer_corunner_gl;
    records.push_back(r);
  }
  const DeinferModel model = DeinferModel::fit(records, PredictorOptions().ridge);
  EXPECT_NEAR(model.c0, 1.02, 1e-4);
  EXPECT_NEAR(model.c1, 3e-6, 3e-10);
  EXPECT_NEAR(model.c2, 1.2e-6, 1.2e-10);
  // A co-runner term that never varies (no co-runners) is ignored rather than making the fit
  // singular.
  for (InterferenceRecord& r : records) {
    r.deinfer_corunner_gl = 0;
    r.slowdown = 1.02 + 3e-6 * r.deinfer_own_gl;
  }
  const DeinferModel alone = DeinferModel::fit(records, PredictorOptions().ridge);
  EXPECT_NEAR(alone.c1, 3e-6, 3e-10);
  EXPECT_EQ(alone.c2, 0);
}

TEST(SlowdownModels, ForestBeatsLinearClearlyOnANonlinearDataset) {
  const std::vector<InterferenceRecord> records = nonlinear_dataset();
  const PredictorEvaluation e = evaluate_predictor(records, PredictorOptions());
  EXPECT_EQ(e.rows, 600u);
  EXPECT_EQ(e.pairs, 200u);
  EXPECT_LT(e.mape_random, 0.5 * e.baseline_linear_random)
      << e.mape_random << " vs " << e.baseline_linear_random;
  EXPECT_LT(e.mape_unseen, 0.5 * e.baseline_linear_unseen)
      << e.mape_unseen << " vs " << e.baseline_linear_unseen;
  EXPECT_LT(e.mape_random, 5);
  // The multiplicative noise is uniform in ±0.5%: repeats differ by about a third of a percent.
  EXPECT_GT(e.noise_floor, 0.1);
  EXPECT_LT(e.noise_floor, 0.7);
  for (double figure : {e.baseline_deinfer_random, e.baseline_deinfer_unseen}) {
    EXPECT_TRUE(std::isfinite(figure) && figure > 0) << figure;
  }
}

TEST(SlowdownModels, TrainingIsDeterministicBySeed) {
  const std::vector<InterferenceRecord> records = nonlinear_dataset();
  PredictorOptions options;
  options.rounds = 50;
  const auto first =
      SlowdownPredictor::train(records, options).predict(PredictorModel::kForest, records);
  const auto again =
      SlowdownPredictor::train(records, options).predict(PredictorModel::kForest, records);
  EXPECT_EQ(first, again);
  options.seed = 2;
  const auto other =
      SlowdownPredictor::train(records, options).predict(PredictorModel::kForest, records);
  EXPECT_NE(first, other);  // row and column sampling follow the seed
}

TEST(SlowdownModels, TooLittleDataIsAUsageError) {
  const std::vector<InterferenceRecord> records = nonlinear_dataset();
  EXPECT_THROW(SlowdownPredictor::train({records.front()}, PredictorOptions()), UsageError);
  const std::vector<InterferenceRecord> few(records.begin(), records.begin() + 9);
  EXPECT_THROW(evaluate_predictor(few, PredictorOptions()), UsageError);
  // Enough rows (18) but only three (probe, interferer) pairs: too few to hold pairs out.
  std::vector<InterferenceRecord> three_pairs = few;  // 3 pairs × 3 repeats
  three_pairs.insert(three_pairs.end(), few.begin(), few.end());
  EXPECT_THROW(evaluate_predictor(three_pairs, PredictorOptions()), UsageError);
}

TEST_F(PredictorFolderTest, SaveThenLoadPredictsIdentically) {
  const std::vector<InterferenceRecord> records = nonlinear_dataset();
  PredictorOptions options;
  options.seed = 9;
  const SlowdownPredictor trained = SlowdownPredictor::train(records, options);
  const fs::path folder = dir_ / "nested" / "model";
  trained.save(folder.string() + "/");  // a trailing slash names the same folder
  EXPECT_TRUE(fs::is_regular_file(folder / "predictor.toml"));
  EXPECT_TRUE(fs::is_regular_file(folder / "forest.json"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "nested"), fs::directory_iterator()), 1)
      << "no temporary folder left beside the model";

  const SlowdownPredictor loaded = SlowdownPredictor::load(folder.string());
  EXPECT_EQ(loaded.training_rows(), records.size());
  EXPECT_EQ(loaded.options().seed, 9u);
  EXPECT_EQ(loaded.options().rounds, options.rounds);
  for (PredictorModel model :
       {PredictorModel::kForest, PredictorModel::kLinear, PredictorModel::kDeinfer}) {
    EXPECT_EQ(loaded.predict(model, records), trained.predict(model, records));
  }
  for (std::size_t i = 0; i < records.size(); i += 37) {
    const InterferenceRecord& r = records[i];
    EXPECT_EQ(loaded.predict_slowdown(r.probe_features, r.load),
              trained.predict_slowdown(r.probe_features, r.load));
    EXPECT_EQ(loaded.predict_linear(r.probe_features, r.load),
              trained.predict_linear(r.probe_features, r.load));
    EXPECT_EQ(loaded.predict_deinfer(r.deinfer_own_gl, r.deinfer_corunner_gl),
              trained.predict_deinfer(r.deinfer_own_gl, r.deinfer_corunner_gl));
    EXPECT_NEAR(trained.predict_slowdown(r.probe_features, r.load), r.slowdown, 0.1 * r.slowdown);
  }

  // Saving again replaces the predictor whole.
  options.rounds = 10;
  SlowdownPredictor::train(records, options).save(folder.string());
  EXPECT_EQ(SlowdownPredictor::load(folder.string()).options().rounds, 10);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "nested"), fs::directory_iterator()), 1);
}

TEST_F(PredictorFolderTest, SaveRefusesToOverwriteOtherFiles) {
  PredictorOptions options;
  options.rounds = 5;
  const SlowdownPredictor predictor = SlowdownPredictor::train(nonlinear_dataset(), options);
  std::ofstream(dir_ / "notes.txt") << "mine";
  EXPECT_THROW(predictor.save(dir_.string()), UsageError);
  EXPECT_THROW(predictor.save((dir_ / "notes.txt").string()), UsageError);
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
}

TEST_F(PredictorFolderTest, LoadRefusesWrongFolders) {
  EXPECT_NE(load_error(dir_ / "absent").find("no such predictor folder"), std::string::npos);
  EXPECT_NE(load_error(dir_).find("not a predictor folder (no predictor.toml)"), std::string::npos);

  PredictorOptions options;
  options.rounds = 5;
  const fs::path model = dir_ / "model";
  SlowdownPredictor::train(nonlinear_dataset(), options).save(model.string());
  std::string toml;
  {
    std::ifstream in(model / "predictor.toml");
    std::stringstream text;
    text << in.rdbuf();
    toml = text.str();
  }
  auto with_toml = [&](const std::string& text) {
    std::ofstream(model / "predictor.toml", std::ios::trunc) << text;
    return load_error(model);
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = toml;
    const std::size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  std::string message = with_toml(replaced("\"alone_ms\"", "\"alone_us\""));
  EXPECT_NE(message.find(": features: expected this repipe's features; "
                         "feature 11 is 'alone_us', this repipe's is 'alone_ms'"),
            std::string::npos)
      << message;
  message = with_toml(replaced("format = \"repipe-slowdown-predictor\"", "format = \"other\""));
  EXPECT_NE(message.find("not a repipe slowdown predictor"), std::string::npos) << message;
  message = with_toml(replaced("version = 1", "version = 99"));
  EXPECT_NE(message.find("predictor.toml:4: version: expected 1"), std::string::npos) << message;
  message = with_toml(replaced("[deinfer]", "[deinfer"));
  EXPECT_NE(message.find("not valid TOML"), std::string::npos) << message;
  message = with_toml(replaced("c2 = ", "c3 = "));
  EXPECT_NE(message.find(": deinfer.c2: expected a number (the key is missing)"), std::string::npos)
      << message;

  std::ofstream(model / "predictor.toml", std::ios::trunc) << toml;  // the original reads again
  EXPECT_NO_THROW(SlowdownPredictor::load(model.string()));
  std::ofstream(model / "forest.json", std::ios::trunc) << "{ not a model";
  message = load_error(model);
  EXPECT_NE(message.find("forest.json: not an xgboost model"), std::string::npos) << message;
  fs::remove(model / "forest.json");
  EXPECT_NE(load_error(model).find("forest.json: missing"), std::string::npos);
}

}  // namespace
}  // namespace repipe
