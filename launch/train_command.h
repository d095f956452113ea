// launch/train_command.h: `repipe train`.
#pragma once

#include <map>
#include <string>

namespace CLI {
class App;
}

namespace repipe {

struct TrainCommand {
  std::string config_path;
  std::map<std::string, std::string> flags;  // config key -> text given on the command line
};

// Adds `train` with one flag per run-config key; the returned object fills during parsing.
CLI::App* add_train_command(CLI::App& app, TrainCommand& command);

class MpiSession;

// Runs `repipe train`: the single-process reference trainer, or, under mpirun or with a plan,
// one stage of the pipeline (`mpi` is null outside mpirun).
int run_train_command(CLI::App& train, const TrainCommand& command, const MpiSession* mpi);

}  // namespace repipe
