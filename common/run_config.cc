#include "common/run_config.h"

#include <charconv>
#include <filesystem>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/error.h"
#include "common/text_format.h"
#include "common/version.h"

namespace repipe {
namespace {

using S = std::string RunConfig::*;
using I = std::int64_t RunConfig::*;
using D = double RunConfig::*;
using B = bool RunConfig::*;

const ConfigKey* find_key(const std::string& name) {
  for (const ConfigKey& key : run_config_keys()) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

std::string type_name(const ConfigKey& key) {
  if (std::holds_alternative<S>(key.field)) return "a string";
  if (std::holds_alternative<I>(key.field)) return "an integer";
  if (std::holds_alternative<B>(key.field)) return "true or false";
  return "a number";
}

void require(bool ok, const ResolvedConfig& config, const std::string& key,
             const std::string& what) {
  if (!ok) throw UsageError(config.where(key) + ": " + what);
}

}  // namespace

const std::vector<ConfigKey>& run_config_keys() {
  static const std::vector<ConfigKey> keys = {
      {"model", "model from the zoo (listed below)", S{&RunConfig::model}},
      {"seq_len", "sequence length of BERT/GPT models (0: model default)", I{&RunConfig::seq_len}},
      {"image_size", "image side of CNN models (0: model default)", I{&RunConfig::image_size}},
      {"time_scale", "emulated models: multiply profiled compute times by this",
       D{&RunConfig::time_scale}},
      {"bytes_scale", "emulated models: multiply activation and parameter sizes by this",
       D{&RunConfig::bytes_scale}},
      {"dataset",
       "synthetic (drawn from the seed) | cifar10:DIR (the binary CIFAR-10 in "
       "DIR/cifar-10-batches-bin) | bert:DIR (NVIDIA's BERT HDF5 shards in DIR/training and "
       "DIR/test) | hdf5:DIR (x, y HDF5 files in DIR/train and DIR/test)",
       S{&RunConfig::dataset}},
      {"batch_size", "global batch per step; must divide by microbatches",
       I{&RunConfig::batch_size}},
      {"microbatches", "micro-batches per step", I{&RunConfig::microbatches}},
      {"schedule", "pipeline schedule: gpipe | 1f1b-flush | 1f1b-stash", S{&RunConfig::schedule}},
      {"plan", "plan TOML (empty: default plan)", S{&RunConfig::plan}},
      {"in_flight",
       "1f1b-stash: micro-batches in flight per stage (0: stages - stage, as PipeDream; 1: no "
       "staleness)",
       I{&RunConfig::in_flight}},
      {"optimizer", "sgd | adam | adamw", S{&RunConfig::optimizer}},
      {"lr", "peak learning rate", D{&RunConfig::lr}},
      {"lr_schedule", "constant | warmup (linear warm-up) | cosine (warm-up, then cosine decay)",
       S{&RunConfig::lr_schedule}},
      {"warmup_steps", "steps of linear warm-up", I{&RunConfig::warmup_steps}},
      {"min_lr", "learning rate at the end of the cosine decay", D{&RunConfig::min_lr}},
      {"momentum", "SGD momentum", D{&RunConfig::momentum}},
      {"weight_decay", "weight decay (L2 for sgd and adam, decoupled for adamw)",
       D{&RunConfig::weight_decay}},
      {"beta1", "Adam beta1", D{&RunConfig::beta1}},
      {"beta2", "Adam beta2", D{&RunConfig::beta2}},
      {"eps", "Adam epsilon", D{&RunConfig::eps}},
      {"grad_clip", "clip gradients to this global norm (0: off)", D{&RunConfig::grad_clip}},
      {"steps", "optimizer steps", I{&RunConfig::steps}},
      {"seed", "seed of weights, data and dropout", I{&RunConfig::seed}},
      {"eval_every", "evaluate held-out loss and accuracy every N steps (0: never)",
       I{&RunConfig::eval_every}},
      {"eval_batches", "held-out batches per evaluation", I{&RunConfig::eval_batches}},
      {"output", "run directory (run.toml, metrics.csv); empty: write nothing",
       S{&RunConfig::output}},
      {"checkpoint_every",
       "write OUTPUT/checkpoints/step-N every N steps and at the end (0: never)",
       I{&RunConfig::checkpoint_every}},
      {"resume", "resume from this checkpoint directory (any plan or stage count)",
       S{&RunConfig::resume}},
      {"inject",
       "slow a rank down: rank=R,factor=F,from=STEP,to=STEP (repeatable; ';' in a config file)",
       S{&RunConfig::inject}},
      {"repartition",
       "move blocks live before step K to the plan FILE: step=K,plan=FILE (repeatable; ';' in a "
       "config file)",
       S{&RunConfig::repartition}},
      {"monitor_every", "steps between exchanges of per-stage compute times (pipeline)",
       I{&RunConfig::monitor_every}},
      {"dynamic",
       "repartition live when a rank slows down or recovers (straight pipelines; off by default)",
       B{&RunConfig::dynamic}},
      {"slowdown_predictor",
       "folder of `repipe predictor train`: each rank's load is measured every monitor window, "
       "each stage's slowdown predicted (OUTPUT/predictions.csv) and --dynamic scores candidate "
       "stages by it",
       S{&RunConfig::slowdown_predictor}},
      {"device", "cpu | cuda | cuda:N", S{&RunConfig::device}},
      {"threads", "intra-op threads per process (0: cores / ranks on this node)",
       I{&RunConfig::threads}},
  };
  return keys;
}

std::string flag_for_key(const std::string& key) {
  std::string flag = "--" + key;
  for (char& c : flag) {
    if (c == '_') c = '-';
  }
  return flag;
}

std::string ResolvedConfig::where(const std::string& key) const {
  auto it = source.find(key);
  if (it == source.end()) return "default of '" + key + "'";
  if (it->second == "command line") return "flag " + flag_for_key(key);
  return it->second + ": key '" + key + "'";
}

void load_config_file(const std::string& path, ResolvedConfig& config) {
  if (!std::filesystem::is_regular_file(path)) {
    throw UsageError(path + ": config file not found");
  }
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    throw UsageError(path + ":" + std::to_string(error.source().begin.line) +
                     ": not valid TOML: " + std::string(error.description()));
  }
  for (auto&& [name, node] : table) {
    std::string key(name.str());
    if (key == "repipe" && node.is_table()) continue;  // provenance written into run.toml
    const ConfigKey* spec = find_key(key);
    std::string place =
        path + ":" + std::to_string(node.source().begin.line) + ": key '" + key + "'";
    if (!spec) throw UsageError(place + ": unknown key (see `repipe train --help` for the keys)");
    bool ok = std::visit(
        [&](auto field) {
          using Field = std::remove_reference_t<decltype(config.values.*field)>;
          if constexpr (std::is_same_v<Field, std::string>) {
            if (!node.is_string()) return false;
            config.values.*field = node.as_string()->get();
          } else if constexpr (std::is_same_v<Field, std::int64_t>) {
            if (!node.is_integer()) return false;
            config.values.*field = node.as_integer()->get();
          } else if constexpr (std::is_same_v<Field, bool>) {
            if (!node.is_boolean()) return false;
            config.values.*field = node.as_boolean()->get();
          } else {
            if (!node.is_number()) return false;
            config.values.*field = node.value<double>().value();
          }
          return true;
        },
        spec->field);
    if (!ok) throw UsageError(place + ": expected " + type_name(*spec));
    config.source[key] = path;
  }
}

void set_config_from_flag(const std::string& key, const std::string& text, ResolvedConfig& config) {
  const ConfigKey* spec = find_key(key);
  REPIPE_CHECK(spec, "no config key " << key);
  bool ok = std::visit(
      [&](auto field) {
        using Field = std::remove_reference_t<decltype(config.values.*field)>;
        if constexpr (std::is_same_v<Field, std::string>) {
          config.values.*field = text;
          return true;
        } else if constexpr (std::is_same_v<Field, bool>) {
          if (text != "true" && text != "false") return false;
          config.values.*field = text == "true";
          return true;
        } else {
          Field value{};
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
          if (ec != std::errc() || end != text.data() + text.size()) return false;
          config.values.*field = value;
          return true;
        }
      },
      spec->field);
  if (!ok) {
    throw UsageError("flag " + flag_for_key(key) + ": expected " + type_name(*spec) + ", got '" +
                     text + "'");
  }
  config.source[key] = "command line";
}

void validate_config(const ResolvedConfig& config) {
  const RunConfig& c = config.values;
  auto one_of = [&](const std::string& key, const std::string& value,
                    const std::set<std::string>& allowed) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : " | ") + a;
    require(allowed.count(value) > 0, config, key, "expected " + list + ", got '" + value + "'");
  };
  require(c.batch_size > 0, config, "batch_size", "expected a positive integer");
  require(c.microbatches > 0, config, "microbatches", "expected a positive integer");
  require(c.batch_size % c.microbatches == 0, config, "batch_size",
          std::to_string(c.batch_size) +
              " does not divide by microbatches = " + std::to_string(c.microbatches));
  require(c.steps > 0, config, "steps", "expected a positive integer");
  require(c.seed >= 0, config, "seed", "expected a non-negative integer");
  require(c.seq_len >= 0, config, "seq_len", "expected a non-negative integer");
  require(c.image_size >= 0, config, "image_size", "expected a non-negative integer");
  require(c.lr > 0, config, "lr", "expected a positive number");
  require(c.min_lr >= 0 && c.min_lr <= c.lr, config, "min_lr", "expected a number in [0, lr]");
  require(c.warmup_steps >= 0, config, "warmup_steps", "expected a non-negative integer");
  require(c.momentum >= 0 && c.momentum < 1, config, "momentum", "expected a number in [0, 1)");
  require(c.weight_decay >= 0, config, "weight_decay", "expected a non-negative number");
  require(c.beta1 >= 0 && c.beta1 < 1, config, "beta1", "expected a number in [0, 1)");
  require(c.beta2 >= 0 && c.beta2 < 1, config, "beta2", "expected a number in [0, 1)");
  require(c.eps > 0, config, "eps", "expected a positive number");
  require(c.grad_clip >= 0, config, "grad_clip", "expected a non-negative number");
  require(c.eval_every >= 0, config, "eval_every", "expected a non-negative integer");
  require(c.eval_batches > 0, config, "eval_batches", "expected a positive integer");
  require(c.monitor_every > 0, config, "monitor_every", "expected a positive integer");
  require(c.in_flight >= 0, config, "in_flight", "expected a non-negative integer");
  require(c.time_scale > 0, config, "time_scale", "expected a positive number");
  require(c.bytes_scale > 0, config, "bytes_scale", "expected a positive number");
  require(c.checkpoint_every >= 0, config, "checkpoint_every", "expected a non-negative integer");
  require(c.checkpoint_every == 0 || !c.output.empty(), config, "checkpoint_every",
          "checkpoints need an output directory (--output)");
  require(c.threads >= 0, config, "threads", "expected a non-negative integer");
  one_of("optimizer", c.optimizer, {"sgd", "adam", "adamw"});
  one_of("lr_schedule", c.lr_schedule, {"constant", "warmup", "cosine"});
  one_of("schedule", c.schedule, {"gpipe", "1f1b-flush", "1f1b-stash"});
  bool stored = false;
  for (const char* kind : {"cifar10:", "bert:", "hdf5:"}) {
    const std::string prefix = kind;
    stored = stored || (c.dataset.rfind(prefix, 0) == 0 && c.dataset.size() > prefix.size());
  }
  require(c.dataset == "synthetic" || stored, config, "dataset",
          "expected synthetic, cifar10:DIR, bert:DIR or hdf5:DIR, got '" + c.dataset + "'");
  bool cuda = c.device == "cuda" || c.device.rfind("cuda:", 0) == 0;
  require(c.device == "cpu" || cuda, config, "device",
          "expected cpu, cuda or cuda:N, got '" + c.device + "'");
}

std::string config_to_toml(const RunConfig& config) {
  // Written by hand rather than through toml++'s printer, which writes 0.9 as
  // 0.90000000000000002: doubles here use the shortest text that reads back exactly.
  auto quoted = [](const std::string& text) {
    std::ostringstream out;
    out << toml::value<std::string>(text);
    return out.str();
  };
  std::ostringstream out;
  out << "# Resolved run config written by repipe; `repipe train --config` reads it back\n"
      << "# (the [repipe] table is ignored on input).\n";
  for (const ConfigKey& key : run_config_keys()) {
    out << key.name << " = ";
    std::visit(
        [&](auto field) {
          const auto& value = config.*field;
          using Field = std::remove_cvref_t<decltype(value)>;
          if constexpr (std::is_same_v<Field, std::string>) {
            out << quoted(value);
          } else if constexpr (std::is_same_v<Field, std::int64_t>) {
            out << value;
          } else if constexpr (std::is_same_v<Field, bool>) {
            out << (value ? "true" : "false");
          } else {
            std::string text = format_double(value);
            if (text.find_first_of(".eni") == std::string::npos) text += ".0";  // stay a float
            out << text;
          }
        },
        key.field);
    out << "\n";
  }
  out << "\n[repipe]\nversion = " << quoted(repipe_version())
      << "\ngit_commit = " << quoted(repipe_git_commit()) << "\n";
  return out.str();
}

}  // namespace repipe
