// launch/predictor_command.h: `repipe predictor train|eval`: train the slowdown predictor on an
// interference dataset (`repipe profile interference`) into a model folder, or say how well it
// and its baselines predict.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace repipe {

struct PredictorCommand {
  std::string action;      // train | eval: the subcommand given (set while parsing)
  std::string data_path;   // --data: the interference dataset CSV
  std::string output;      // train -o: the model folder to write
  std::string model_dir;   // eval --model: a model folder written by train
  std::uint64_t seed = 1;  // --seed: the trees' sampling and eval's splits
};

// Adds `predictor` with its subcommands `train` and `eval`; the returned object fills `command`
// during parsing.
CLI::App* add_predictor_command(CLI::App& app, PredictorCommand& command);

// train: fits the predictor on every row and writes the model folder atomically, then prints a
// summary. eval: prints key=value lines (rows, pairs, mape_random, mape_unseen, noise_floor, the
// four baseline_*, mape_model), in percent. Bad input (a missing or malformed dataset or
// model folder, too few rows or pairs to split) is a UsageError (exit 2).
int run_predictor_command(const PredictorCommand& command);

}  // namespace repipe
