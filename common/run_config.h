// common/run_config.h: the run config of `repipe train`: every key, its default, its checks.
//
// One table (run_config_keys()) drives the TOML loader, the command-line flags (key
// `batch_size` is flag `--batch-size`) and the resolved run.toml, so the three cannot drift.
// Precedence: defaults < --config FILE < flags.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace repipe {

struct RunConfig {
  // What to train.
  std::string model = "mlp";    // a name from the model zoo (`repipe train --help`)
  std::int64_t seq_len = 0;     // sequence length of BERT/GPT models; 0 = model default
  std::int64_t image_size = 0;  // image side of CNN models; 0 = model default
  double time_scale = 1.0;      // emulated models: multiplies profiled compute times
  double bytes_scale = 1.0;     // emulated models: multiplies activation and parameter bytes
  std::string dataset = "synthetic";
  // How.
  std::int64_t batch_size = 32;  // global batch per step; must divide by microbatches
  std::int64_t microbatches = 1;
  std::string schedule = "1f1b-flush";
  std::string plan;               // plan TOML; empty = default plan
  std::int64_t in_flight = 0;     // 1f1b-stash: micro-batches in flight per stage; 0 = S - stage
  std::string optimizer = "sgd";  // sgd | adam | adamw
  double lr = 0.01;
  std::string lr_schedule = "constant";  // constant | warmup | cosine
  std::int64_t warmup_steps = 0;
  double min_lr = 0.0;        // floor of the cosine schedule
  double momentum = 0.9;      // sgd
  double weight_decay = 0.0;  // sgd: L2 added to the gradient; adamw: decoupled
  double beta1 = 0.9;         // adam, adamw
  double beta2 = 0.999;
  double eps = 1e-8;
  double grad_clip = 0.0;  // max global gradient norm; 0 = no clipping
  std::int64_t steps = 100;
  std::int64_t seed = 1;
  // Evaluation and output.
  std::int64_t eval_every = 0;        // evaluate every N steps (and after the last); 0 = never
  std::int64_t eval_batches = 4;      // held-out batches per evaluation
  std::string output;                 // run directory; empty = write nothing
  std::int64_t checkpoint_every = 0;  // write OUTPUT/checkpoints/step-N every N steps; 0 = never
  std::string resume;                 // checkpoint directory to resume from
  std::string inject;                 // slowdowns: "rank=1,factor=2.5,from=200,to=600"; ';'
  std::int64_t monitor_every = 10;    // steps between exchanges of per-stage compute times
  bool dynamic = false;               // repartition live when a rank slows down or recovers
  std::string slowdown_predictor;     // `repipe predictor train` folder; empty = none
  std::string repartition;            // planned repartitions: "step=K,plan=FILE"; ';'
  std::string device = "cpu";         // cpu | cuda | cuda:N
  std::int64_t threads = 0;           // intra-op threads; 0 = cores / ranks on this node
};

using ConfigValue = std::variant<std::string, std::int64_t, double, bool>;

struct ConfigKey {
  std::string name;  // TOML key; the flag is "--" + name with '_' as '-'
  std::string help;
  // A bool key is a flag without a value on the command line ("--dynamic"), true or false in TOML.
  std::variant<std::string RunConfig::*, std::int64_t RunConfig::*, double RunConfig::*,
               bool RunConfig::*>
      field;
};

const std::vector<ConfigKey>& run_config_keys();

// "batch_size" -> "--batch-size".
std::string flag_for_key(const std::string& key);

// A config with the place each value came from, for error messages that name it.
struct ResolvedConfig {
  RunConfig values;
  std::map<std::string, std::string> source;  // key -> "train.toml" or "command line"

  // "train.toml: key 'batch_size'" or "flag --batch-size": the origin of a key's value.
  std::string where(const std::string& key) const;
};

// Reads a TOML run config over `config`; unknown keys and wrong types are UsageErrors.
void load_config_file(const std::string& path, ResolvedConfig& config);

// Sets one key from command-line text ("32", "0.1", "adamw"); a bad value is a UsageError.
void set_config_from_flag(const std::string& key, const std::string& text, ResolvedConfig& config);

// Checks values and relations between keys (batch_size divides by microbatches, ...).
void validate_config(const ResolvedConfig& config);

// The resolved config as TOML, with a [repipe] table (version, git commit) for run.toml.
std::string config_to_toml(const RunConfig& config);

}  // namespace repipe
