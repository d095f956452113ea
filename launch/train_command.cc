#include "launch/train_command.h"

#include <cstdio>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/run_config.h"
#include "common/text_format.h"
#include "engine/reference_trainer.h"
#include "launch/process_setup.h"
#include "models/zoo.h"

namespace repipe {
namespace {

std::string zoo_list() {
  std::string list;
  for (const std::string& name : zoo_model_names()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

ResolvedConfig resolve(CLI::App& train, const TrainCommand& command) {
  ResolvedConfig config;
  if (!command.config_path.empty()) load_config_file(command.config_path, config);
  for (const ConfigKey& key : run_config_keys()) {
    if (train.count(flag_for_key(key.name)) > 0) {
      set_config_from_flag(key.name, command.flags.at(key.name), config);
    }
  }
  validate_config(config);
  return config;
}

void print_header(const RunConfig& c, const Model& model, const torch::Device& device,
                  int threads) {
  std::printf("repipe train: model %s (%zu blocks, %s parameters, %s)\n", c.model.c_str(),
              model.blocks.size(), group_thousands(model.parameter_count()).c_str(),
              human_bytes(static_cast<double>(model.parameter_count()) * 4).c_str());
  std::printf(
      "  batch %lld = %lld micro-batches x %lld   optimizer %s   lr %s (%s)   steps %lld"
      "   seed %lld   device %s   threads %d\n",
      static_cast<long long>(c.batch_size), static_cast<long long>(c.microbatches),
      static_cast<long long>(c.batch_size / c.microbatches), c.optimizer.c_str(),
      format_double(c.lr).c_str(), c.lr_schedule.c_str(), static_cast<long long>(c.steps),
      static_cast<long long>(c.seed), device.str().c_str(), threads);
  std::fflush(stdout);
}

}  // namespace

CLI::App* add_train_command(CLI::App& app, TrainCommand& command) {
  CLI::App* train = app.add_subcommand(
      "train", "Train a model from the zoo (one process: the single-stage reference trainer)");
  train->footer("Models: " + zoo_list() +
                "\nEvery key of a --config TOML file is also a flag (batch_size = --batch-size); "
                "flags override the file.");
  train->add_option("--config", command.config_path, "run config TOML file");
  for (const ConfigKey& key : run_config_keys()) {
    std::string flag = flag_for_key(key.name);
    if (key.name == "output") flag = "-o," + flag;
    RunConfig defaults;
    std::string type_name;
    std::string default_text;
    std::visit(
        [&](auto field) {
          using Field = std::remove_cvref_t<decltype(defaults.*field)>;
          if constexpr (std::is_same_v<Field, std::string>) {
            type_name = "TEXT";
            default_text = defaults.*field;
          } else if constexpr (std::is_same_v<Field, std::int64_t>) {
            type_name = "INT";
            default_text = std::to_string(defaults.*field);
          } else {
            type_name = "NUMBER";
            default_text = format_double(defaults.*field);
          }
        },
        key.field);
    train->add_option(flag, command.flags[key.name], key.help)
        ->type_name(type_name)
        ->default_str(default_text)
        ->group("Run config");
  }
  return train;
}

int run_train_command(CLI::App& train, const TrainCommand& command) {
  ResolvedConfig resolved = resolve(train, command);
  RunConfig& config = resolved.values;
  if (!config.plan.empty()) {
    throw UsageError(
        resolved.where("plan") +
        ": plan files run under the pipeline engine, which this build does not have yet");
  }
  torch::Device device = parse_device(config.device, resolved.where("device"));
  int threads = configure_threads(config.threads);
  ModelOptions options{config.seq_len, config.image_size, static_cast<std::uint64_t>(config.seed)};
  Model model = build_model(config.model, options);
  print_header(config, model, device, threads);
  ReferenceTrainer trainer(config, std::move(model), device);
  trainer.run();
  return 0;
}

}  // namespace repipe
