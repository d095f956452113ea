#include "launch/train_command.h"

#include <cstdio>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/run_config.h"
#include "common/text_format.h"
#include "engine/pipeline_trainer.h"
#include "engine/planned_repartition.h"
#include "engine/reference_trainer.h"
#include "engine/slowdown_injection.h"
#include "engine/transport/mpi_transport.h"
#include "launch/mpi_session.h"
#include "launch/process_setup.h"
#include "models/zoo.h"
#include "partitioner/plan.h"
#include "profiler/emulated_model.h"

namespace repipe {
namespace {

// Defaults < --config file < flags (validated by the caller, after a plan file's settings).
ResolvedConfig resolve(CLI::App& train, const TrainCommand& command) {
  ResolvedConfig config;
  if (!command.config_path.empty()) load_config_file(command.config_path, config);
  for (const ConfigKey& key : run_config_keys()) {
    if (train.count(flag_for_key(key.name)) == 0) continue;
    const bool is_switch = std::holds_alternative<bool RunConfig::*>(key.field);
    set_config_from_flag(key.name, is_switch ? "true" : command.flags.at(key.name), config);
  }
  return config;
}

// A zoo model, or `emulated:PROFILE`: blocks that sleep their profiled times.
Model make_model(const RunConfig& c) {
  const std::string prefix = kEmulatedModelPrefix;
  if (c.model.rfind(prefix, 0) == 0) {
    return build_emulated_model(c.model.substr(prefix.size()), c.time_scale, c.bytes_scale,
                                static_cast<std::uint64_t>(c.seed));
  }
  return build_model(c.model, {c.seq_len, c.image_size, static_cast<std::uint64_t>(c.seed)});
}

// A plan file brings its model, schedule and micro-batching; flags and the config file win.
void adopt_plan_settings(const Plan& plan, const std::string& path, ResolvedConfig& config) {
  RunConfig& c = config.values;
  auto unset = [&](const char* key) { return config.source.count(key) == 0; };
  if (unset("model")) c.model = plan.model;
  if (unset("schedule")) c.schedule = plan.schedule;
  if (unset("microbatches")) c.microbatches = plan.microbatches;
  if (unset("batch_size")) c.batch_size = c.microbatches * plan.microbatch_size;
  for (const char* key : {"model", "schedule", "microbatches", "batch_size"}) {
    if (unset(key)) config.source[key] = path;
  }
}

// The default plan until the planner exists: one stage per rank, blocks split so the largest
// stage holds as few parameter bytes as possible.
Plan default_plan(const RunConfig& c, const Model& model, int world_size) {
  std::vector<std::int64_t> bytes;
  for (const BlockPtr& block : model.blocks) bytes.push_back(block_parameter_bytes(*block));
  if (world_size > static_cast<int>(model.blocks.size())) {
    throw UsageError("model " + c.model + " has " + std::to_string(model.blocks.size()) +
                     " blocks, too few for " + std::to_string(world_size) +
                     " ranks (one stage per rank); launch fewer ranks");
  }
  return even_plan_by_bytes(c.model, bytes, world_size, c.schedule, c.microbatches,
                            c.batch_size / c.microbatches);
}

void print_plan(const Plan& plan, const Model& model) {
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    const StagePlan& stage = plan.stages[s];
    std::string ranks;
    for (int r : stage.ranks) ranks += (ranks.empty() ? "" : ",") + std::to_string(r);
    std::printf("  stage %zu on rank%s %s: blocks %lld-%lld (%s .. %s)\n", s,
                stage.ranks.size() > 1 ? "s" : "", ranks.c_str(),
                static_cast<long long>(stage.first_block), static_cast<long long>(stage.last_block),
                model.blocks[stage.first_block]->block_name().c_str(),
                model.blocks[stage.last_block]->block_name().c_str());
  }
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
  train->footer(
      "Models: " + zoo_model_list() +
      ", emulated:PROFILE (a profile CSV or PipeDream graph; --time-scale, --bytes-scale)" +
      "\nEvery key of a --config TOML file is also a flag (batch_size = --batch-size); "
      "flags override the file.");
  train->add_option("--config", command.config_path, "run config TOML file");
  for (const ConfigKey& key : run_config_keys()) {
    std::string flag = flag_for_key(key.name);
    if (key.name == "output") flag = "-o," + flag;
    if (std::holds_alternative<bool RunConfig::*>(key.field)) {  // a switch: "--dynamic"
      train->add_flag(flag, key.help)->group("Run config");
      continue;
    }
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
          } else if constexpr (std::is_same_v<Field, double>) {
            type_name = "NUMBER";
            default_text = format_double(defaults.*field);
          }
        },
        key.field);
    CLI::Option* option = train->add_option(flag, command.flags[key.name], key.help)
                              ->type_name(type_name)
                              ->default_str(default_text)
                              ->group("Run config");
    // --inject may be given several times: the specs join, one per line.
    if (key.name == "inject" || key.name == "repartition") {
      option->multi_option_policy(CLI::MultiOptionPolicy::Join);
    }
  }
  return train;
}

int run_train_command(CLI::App& train, const TrainCommand& command, const MpiSession* mpi) {
  ResolvedConfig resolved = resolve(train, command);
  RunConfig& config = resolved.values;
  std::optional<Plan> plan;
  if (!config.plan.empty()) {
    plan = load_plan(config.plan);
    adopt_plan_settings(*plan, config.plan, resolved);
  }
  validate_config(resolved);
  torch::Device device = parse_device(config.device, resolved.where("device"));
  int threads = configure_threads(config.threads);
  Model model = make_model(config);
  int world_size = mpi ? mpi->size() : 1;
  bool rank0 = !mpi || mpi->rank() == 0;

  if (world_size == 1 && !plan) {
    print_header(config, model, device, threads);
    ReferenceTrainer trainer(config, std::move(model), device);
    trainer.run();
    return 0;
  }
  // The pipeline engine: one process per stage.
  if (!plan) plan = default_plan(config, model, world_size);
  plan->schedule = config.schedule;
  plan->microbatches = config.microbatches;
  plan->microbatch_size = config.batch_size / config.microbatches;
  std::string plan_source = config.plan.empty() ? std::string("the default plan") : config.plan;
  validate_plan(*plan, config.model, static_cast<std::int64_t>(model.blocks.size()), world_size,
                plan_source);
  for (const PlannedRepartition& planned : parse_planned_repartitions(config.repartition)) {
    validate_plan(planned.plan, config.model, static_cast<std::int64_t>(model.blocks.size()),
                  world_size, planned.path);
    bool same_ranks = planned.plan.stages.size() == plan->stages.size();
    for (std::size_t s = 0; same_ranks && s < plan->stages.size(); ++s) {
      same_ranks = planned.plan.stages[s].ranks == plan->stages[s].ranks &&
                   plan->stages[s].ranks.size() == 1;
    }
    if (!same_ranks) {
      throw UsageError("--repartition: " + planned.path +
                       ": a live repartition moves blocks between the stages of a straight "
                       "pipeline; keep each stage on its rank (" +
                       std::to_string(plan->stages.size()) + " stages, one rank each)");
    }
  }
  for (const SlowdownInjection& injection : parse_slowdown_injections(config.inject)) {
    if (injection.rank >= world_size) {
      throw UsageError("--inject: rank " + std::to_string(injection.rank) +
                       " is outside the world of " + std::to_string(world_size) + " ranks");
    }
  }
  if (!mpi) {
    throw UsageError(plan_source + ": a plan runs under mpirun (scripts/mpirun.sh -np " +
                     std::to_string(plan->world_size()) + " repipe train ...)");
  }
  if (rank0) {
    print_header(config, model, device, threads);
    std::printf("  pipeline: %zu stages, schedule %s\n", plan->stages.size(),
                config.schedule.c_str());
    print_plan(*plan, model);
    std::fflush(stdout);
  }
  MpiTransport transport(MPI_COMM_WORLD);
  // The trainer builds more copies for weight versions; the first is the model built above.
  std::optional<Model> built = std::move(model);
  auto make_model_copy = [&]() -> Model {
    if (!built) return make_model(config);
    Model first = std::move(*built);
    built.reset();
    return first;
  };
  PipelineTrainer trainer(config, *plan, make_model_copy, transport, device);
  trainer.run();
  if (rank0 && !config.output.empty()) {
    std::printf("wrote %s/metrics.csv, run.toml, trace.json and ranks/\n", config.output.c_str());
  }
  return 0;
}

}  // namespace repipe
