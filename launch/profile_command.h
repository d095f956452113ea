// launch/profile_command.h: `repipe profile`: measure a zoo model's per-block profile, or convert
// a profile (PipeDream's graph or repipe's CSV) to repipe's CSV.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace repipe {

struct ProfileCommand {
  std::string model;         // --model: a zoo name to measure
  std::string profile_path;  // --profile: a profile file to convert (exclusive with --model)
  std::string cuts;          // --cuts: where a PipeDream graph is cut ("" = one-tensor)
  std::int64_t batch_size = 32;
  std::int64_t seq_len = 0;     // 0: the model's default
  std::int64_t image_size = 0;  // 0: the model's default
  std::string device = "cpu";
  std::string precision = "fp32";
  std::int64_t repeats = 10;
  std::int64_t warmup = 3;
  std::int64_t threads = 0;  // 0: cores / ranks on the node
  std::int64_t seed = 1;
  std::string output;                        // -o: the CSV to write; empty: print the table only
  std::vector<std::string> measuring_flags;  // measuring flags given (filled while parsing)
};

// Adds `profile`; the returned object fills `command` during parsing.
CLI::App* add_profile_command(CLI::App& app, ProfileCommand& command);

// Runs `repipe profile`: prints one row per block and the totals, then writes the CSV atomically.
// Bad input (neither or both of --model and --profile, unknown model, bad numbers, a bad profile
// file, an unwritable output) is a UsageError, checked before any measuring.
int run_profile_command(const ProfileCommand& command);

}  // namespace repipe
