// launch/profile_command.cc: `repipe profile`: the block profiler (or a profile import) behind a
// table for people and a CSV for the planner.
#include "launch/profile_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include <unistd.h>
#include <CLI/CLI.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/progress.h"
#include "common/text_format.h"
#include "launch/process_setup.h"
#include "models/zoo.h"
#include "partitioner/profile.h"
#include "profiler/block_profiler.h"

namespace repipe {
namespace {

void require_at_least(const char* flag, std::int64_t value, std::int64_t least) {
  if (value < least) {
    throw UsageError(std::string("flag ") + flag + ": expected an integer >= " +
                     std::to_string(least) + ", got " + std::to_string(value));
  }
}

// Fails now, not after minutes of measuring: the output must be a file we can create.
void check_output_writable(const std::string& output) {
  std::filesystem::path path(output);
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    throw UsageError("flag --output: " + output + " is a folder; expected a CSV file path");
  }
  if (path.has_parent_path()) create_folder(path.parent_path());
  std::filesystem::path probe = path;
  probe += ".probe." + std::to_string(::getpid());
  bool writable = static_cast<bool>(std::ofstream(probe, std::ios::binary | std::ios::trunc));
  std::filesystem::remove(probe, error);
  if (!writable) throw UsageError("flag --output: cannot write " + output + " (check the folder)");
}

std::string ms_text(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3f", ms);
  return buffer;
}

void print_table(const Profile& profile) {
  std::size_t name_width = 5;  // "block"
  for (const BlockProfile& b : profile.blocks) name_width = std::max(name_width, b.name.size());
  int w = static_cast<int>(name_width);
  std::printf("  %4s  %-*s  %11s  %11s  %10s  %10s  %11s\n", "#", w, "block", "forward ms",
              "backward ms", "output", "params", "activations");
  double forward = 0;
  double backward = 0;
  double params = 0;
  double activations = 0;
  for (std::size_t i = 0; i < profile.blocks.size(); ++i) {
    const BlockProfile& b = profile.blocks[i];
    std::printf("  %4zu  %-*s  %11s  %11s  %10s  %10s  %11s\n", i, w, b.name.c_str(),
                ms_text(b.forward_ms).c_str(), ms_text(b.backward_ms).c_str(),
                human_bytes(static_cast<double>(b.output_bytes)).c_str(),
                human_bytes(static_cast<double>(b.param_bytes)).c_str(),
                human_bytes(static_cast<double>(b.activation_bytes)).c_str());
    forward += b.forward_ms;
    backward += b.backward_ms;
    params += static_cast<double>(b.param_bytes);
    activations += static_cast<double>(b.activation_bytes);
  }
  std::printf("  %4s  %-*s  %11s  %11s  %10s  %10s  %11s\n", "", w, "total",
              ms_text(forward).c_str(), ms_text(backward).c_str(), "", human_bytes(params).c_str(),
              human_bytes(activations).c_str());
}

std::string describe(const Profile& profile) {
  std::string device = profile.device.empty() ? "unknown" : profile.device;
  std::string batch =
      profile.batch_size > 0 ? std::to_string(profile.batch_size) : std::string("unknown");
  std::string precision = profile.precision.empty() ? "unknown" : profile.precision;
  return std::to_string(profile.blocks.size()) + " blocks, batch " + batch + ", device " + device +
         ", " + precision;
}

Profile measure(const ProfileCommand& c) {
  require_at_least("--batch-size", c.batch_size, 1);
  require_at_least("--repeats", c.repeats, 1);
  require_at_least("--warmup", c.warmup, 0);
  require_at_least("--seq-len", c.seq_len, 0);
  require_at_least("--image-size", c.image_size, 0);
  if (c.precision != "fp32" && c.precision != "bf16") {
    throw UsageError("flag --precision: expected " + std::string(profile_precisions()) + ", got '" +
                     c.precision + "'");
  }
  torch::Device device = parse_device(c.device, "flag --device");
  int threads = configure_threads(c.threads);
  Model model = build_model(c.model, {c.seq_len, c.image_size, static_cast<std::uint64_t>(c.seed)});
  if (!c.output.empty()) check_output_writable(c.output);

  std::printf(
      "repipe profile: model %s (%zu blocks), batch %lld, device %s, %s, median of %lld runs "
      "after %lld warm-up, threads %d\n",
      c.model.c_str(), model.blocks.size(), static_cast<long long>(c.batch_size),
      device.str().c_str(), c.precision.c_str(), static_cast<long long>(c.repeats),
      static_cast<long long>(c.warmup), threads);
  std::fflush(stdout);

  ProfileOptions options;
  options.batch_size = c.batch_size;
  options.device = device;
  options.precision = c.precision;
  options.repeats = c.repeats;
  options.warmup = c.warmup;
  options.seed = static_cast<std::uint64_t>(c.seed);
  Progress progress("profile", static_cast<std::int64_t>(model.blocks.size()));
  options.on_block = [&](std::size_t index, const BlockProfile& block) {
    progress.update(static_cast<std::int64_t>(index + 1), block.name);
  };
  Profile profile = profile_model(model, options);
  progress.finish();
  return profile;
}

Profile convert(const ProfileCommand& c) {
  GraphCuts cuts = GraphCuts::kOneTensor;
  if (c.cuts == "every-node") {
    cuts = GraphCuts::kEveryNode;
  } else if (!c.cuts.empty() && c.cuts != "one-tensor") {
    throw UsageError("flag --cuts: expected one-tensor or every-node, got '" + c.cuts + "'");
  }
  Profile profile = load_profile(c.profile_path, cuts);
  if (!c.output.empty()) check_output_writable(c.output);
  std::printf("repipe profile: %s: %s\n", c.profile_path.c_str(), describe(profile).c_str());
  std::printf("  %s\n", profile.note.empty() ? "read a repipe profile CSV" : profile.note.c_str());
  return profile;
}

}  // namespace

CLI::App* add_profile_command(CLI::App& app, ProfileCommand& command) {
  CLI::App* profile = app.add_subcommand(
      "profile",
      "Measure each block's forward and backward time, output, parameter and activation bytes "
      "(--model), or convert a PipeDream profile graph or profile CSV to repipe's CSV (--profile)");
  profile->footer("Models: " + zoo_model_list() + "\nCSV columns: " + kProfileCsvHeader +
                  " (times in ms, sizes in bytes for the whole batch)");
  profile->add_option("--model", command.model, "zoo model to measure");
  profile->add_option(
      "--profile", command.profile_path,
      "profile to convert: a PipeDream profile graph (a DAG is linearised) or repipe's CSV");
  profile->add_option("--cuts", command.cuts,
                      "where a PipeDream graph becomes blocks: one-tensor (default: where one "
                      "tensor is live) or every-node (after each node, sending all live tensors)");
  std::vector<CLI::Option*> measuring = {
      profile->add_option("--batch-size", command.batch_size, "samples per measured step")
          ->capture_default_str(),
      profile->add_option("--seq-len", command.seq_len, "BERT/GPT sequence length (0: default)")
          ->capture_default_str(),
      profile->add_option("--image-size", command.image_size, "CNN input side (0: default)")
          ->capture_default_str(),
      profile->add_option("--device", command.device, "cpu, cuda or cuda:N")->capture_default_str(),
      profile->add_option("--precision", command.precision, profile_precisions())
          ->capture_default_str(),
      profile->add_option("--repeats", command.repeats, "timed runs per block (median kept)")
          ->capture_default_str(),
      profile->add_option("--warmup", command.warmup, "untimed runs per block before them")
          ->capture_default_str(),
      profile->add_option("--threads", command.threads, "intra-op threads (0: cores / ranks)")
          ->capture_default_str(),
      profile->add_option("--seed", command.seed, "synthetic batch and weights")
          ->capture_default_str(),
  };
  for (CLI::Option* option : measuring) option->group("Measuring a model (--model)");
  // Which of them were given: run_profile_command refuses them with --profile.
  profile->callback([&command, measuring] {
    command.measuring_flags.clear();
    for (CLI::Option* option : measuring) {
      if (option->count() > 0) command.measuring_flags.push_back(option->get_name());
    }
  });
  profile->add_option("-o,--output", command.output,
                      "profile CSV to write (atomically); without it only the table is printed");
  return profile;
}

int run_profile_command(const ProfileCommand& command) {
  bool has_model = !command.model.empty();
  bool has_profile = !command.profile_path.empty();
  if (has_model == has_profile) {
    throw UsageError(has_model ? "--model and --profile exclude each other: measure a model or "
                                 "convert a profile"
                               : "expected --model NAME (measure a zoo model) or --profile FILE "
                                 "(convert a profile)");
  }
  if (has_model && !command.cuts.empty()) {
    throw UsageError("flag --cuts: linearises a PipeDream graph (--profile), not a --model");
  }
  if (has_profile && !command.measuring_flags.empty()) {
    throw UsageError("flag " + command.measuring_flags.front() +
                     ": measures a model (--model); --profile converts a profile as it is");
  }
  Profile profile = has_model ? measure(command) : convert(command);
  print_table(profile);
  if (!command.output.empty()) {
    save_profile_csv(profile, command.output);
    std::printf("wrote %s (%zu blocks)\n", command.output.c_str(), profile.blocks.size());
  }
  return 0;
}

}  // namespace repipe
