// launch/bench_command.h: `repipe bench io` (DLIO-style data-path emulation with accelerator
// utilisation) and `repipe bench checkpoint` (checkpoint write and read bandwidth).
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace repipe {

class MpiSession;

struct BenchCommand {
  std::string config;  // io: the TOML config
  std::string output;  // io: overrides [output] folder
  // checkpoint:
  std::string size;   // bytes, e.g. 2GiB
  std::string model;  // or a zoo model's parameters with the optimizer's states
  std::string optimizer = "adam";
  std::string folder = "runs/bench-checkpoint";
  std::int64_t repeats = 3;
};

struct BenchApps {
  CLI::App* bench = nullptr;
  CLI::App* io = nullptr;
  CLI::App* checkpoint = nullptr;
};

BenchApps add_bench_command(CLI::App& app, BenchCommand& command);
// Every rank (under mpirun) reads its share and meets the others each step; rank 0 prints the
// summary and writes the files. A bad config is a UsageError (exit 2) on every rank.
int run_bench_io_command(const BenchCommand& command, const MpiSession* mpi);
int run_bench_checkpoint_command(const BenchCommand& command, const MpiSession* mpi);

}  // namespace repipe
