// Tests of the run config: TOML and flags, errors that name the file and the key, run.toml.
#include "common/run_config.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

class RunConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    std::filesystem::path path = dir_ / "train.toml";
    std::ofstream(path) << text;
    return path.string();
  }
  // Loads and validates `text`; returns the UsageError message ("" when it loads).
  std::string error_of(const std::string& text) {
    try {
      ResolvedConfig config;
      load_config_file(write(text), config);
      validate_config(config);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("repipe_config_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

TEST_F(RunConfigTest, LoadsEveryKindOfValue) {
  ResolvedConfig config;
  load_config_file(write("model = \"small_cnn\"\nbatch_size = 64\nlr = 0.5\nmomentum = 0\n"),
                   config);
  EXPECT_EQ(config.values.model, "small_cnn");
  EXPECT_EQ(config.values.batch_size, 64);
  EXPECT_DOUBLE_EQ(config.values.lr, 0.5);
  EXPECT_DOUBLE_EQ(config.values.momentum, 0.0);      // an integer is accepted for a number
  EXPECT_EQ(config.values.steps, RunConfig{}.steps);  // untouched keys keep their defaults
}

TEST_F(RunConfigTest, UnknownKeyNamesFileLineAndKey) {
  std::string error = error_of("steps = 3\nbatchsize = 4\n");
  EXPECT_NE(error.find("train.toml:2: key 'batchsize': unknown key"), std::string::npos) << error;
}

TEST_F(RunConfigTest, WrongTypeNamesTheExpectedType) {
  EXPECT_NE(error_of("steps = \"ten\"\n").find("key 'steps': expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of("lr = \"big\"\n").find("key 'lr': expected a number"), std::string::npos);
  EXPECT_NE(error_of("model = 3\n").find("key 'model': expected a string"), std::string::npos);
}

TEST_F(RunConfigTest, MissingFileAndBadTomlAreUsageErrors) {
  ResolvedConfig config;
  EXPECT_THROW(load_config_file((dir_ / "absent.toml").string(), config), UsageError);
  EXPECT_NE(error_of("steps = = 3\n").find("train.toml:1: not valid TOML"), std::string::npos);
}

TEST_F(RunConfigTest, ImpossibleValuesAreRejected) {
  std::string error = error_of("batch_size = 30\nmicrobatches = 4\n");
  EXPECT_NE(error.find("key 'batch_size': 30 does not divide by microbatches = 4"),
            std::string::npos)
      << error;
  EXPECT_NE(error_of("steps = 0\n").find("key 'steps'"), std::string::npos);
  EXPECT_NE(error_of("optimizer = \"lamb\"\n").find("expected adam | adamw | sgd, got 'lamb'"),
            std::string::npos);
  EXPECT_NE(error_of("momentum = 1.5\n").find("key 'momentum'"), std::string::npos);
  EXPECT_NE(error_of("device = \"tpu\"\n").find("key 'device'"), std::string::npos);
  EXPECT_EQ(error_of("batch_size = 32\nmicrobatches = 4\n"), "");
}

TEST_F(RunConfigTest, FlagsOverrideTheFileAndNameTheFlag) {
  ResolvedConfig config;
  load_config_file(write("batch_size = 30\nmicrobatches = 3\n"), config);
  set_config_from_flag("microbatches", "4", config);
  try {
    validate_config(config);
    FAIL() << "30 does not divide by 4";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("train.toml: key 'batch_size'"), std::string::npos);
  }
  EXPECT_EQ(config.where("microbatches"), "flag --microbatches");
  EXPECT_THROW(set_config_from_flag("steps", "12x", config), UsageError);
  EXPECT_THROW(set_config_from_flag("lr", "", config), UsageError);
  EXPECT_THROW(set_config_from_flag("dynamic", "yes", config), UsageError);
  set_config_from_flag("dynamic", "true", config);
  EXPECT_TRUE(config.values.dynamic);
}

TEST_F(RunConfigTest, RunTomlReadsBackToTheSameConfig) {
  RunConfig original;
  original.model = "bert-tiny";
  original.lr = 0.1 + 0.2;  // not exactly representable in short decimal
  original.seed = 123456789;
  original.output = "runs/a b";
  original.dynamic = true;
  ResolvedConfig loaded;
  load_config_file(write(config_to_toml(original)), loaded);
  for (const ConfigKey& key : run_config_keys()) {
    std::visit([&](auto field) { EXPECT_EQ(loaded.values.*field, original.*field) << key.name; },
               key.field);
  }
}

TEST(FlagForKey, UsesDashes) {
  EXPECT_EQ(flag_for_key("batch_size"), "--batch-size");
}

}  // namespace
}  // namespace repipe
