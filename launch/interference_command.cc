// launch/interference_command.cc: `repipe profile interference`: flags, the CSV written row by row,
// and a summary per stress kind.
#include "launch/interference_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include <CLI/CLI.hpp>

#include "common/csv_writer.h"
#include "common/error.h"
#include "common/progress.h"
#include "common/text_format.h"
#include "profiler/interference_profiler.h"

namespace repipe {
namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

}  // namespace

CLI::App* add_interference_command(CLI::App& profile, InterferenceCommand& c) {
  CLI::App* app = profile.add_subcommand(
      "interference",
      "Measure how co-located load slows pipeline stages: probes alone and beside `repipe "
      "stress` co-runners, one CSV row per probe and configuration, for `repipe predictor`");
  app->footer("Probes: <model>[:<first>-<last>]@<batch>; default: " +
              joined(default_probe_specs()));
  app->add_option("--device", c.device, "where probes run (cpu; GPU collection waits for CUDA)")
      ->capture_default_str();
  app->add_option("--probes", c.probes, "probe workloads, comma-separated")->delimiter(',');
  app->add_option("--kinds", c.kinds, "stress kinds: compute, memory, mixed")
      ->delimiter(',')
      ->capture_default_str();
  app->add_option("--intensities", c.intensities, "stress duty cycles in (0, 1]")
      ->delimiter(',')
      ->capture_default_str();
  app->add_option("--corunners", c.corunners, "numbers of stress processes")
      ->delimiter(',')
      ->capture_default_str();
  app->add_option("--placements", c.placements, "co-runners on the probe's core (same) or another")
      ->delimiter(',')
      ->capture_default_str();
  app->add_option("--repeats", c.repeats, "passes over every configuration (noise floor: >= 2)")
      ->capture_default_str();
  app->add_option("--runs", c.runs, "timed runs per measurement (median kept)")
      ->capture_default_str();
  app->add_option("--measure", c.measure_s, "seconds per measurement at least (more runs)")
      ->capture_default_str();
  app->add_option("--settle", c.settle_s, "seconds between starting co-runners and sampling")
      ->capture_default_str();
  app->add_option("--sample", c.sample_s, "seconds of load sampling per configuration")
      ->capture_default_str();
  app->add_option("--probe-core", c.probe_core, "CPU the probes run on")->capture_default_str();
  app->add_option("--seed", c.seed, "model weights and synthetic batches")->capture_default_str();
  app->add_option("-o,--output", c.output, "dataset CSV to write")->capture_default_str();
  return app;
}

int run_interference_command(const InterferenceCommand& c) {
  if (c.device != "cpu") {
    throw UsageError("flag --device: only cpu is collected so far, got '" + c.device +
                     "' (GPU stress exists: `repipe stress --device cuda:N`)");
  }
  InterferenceOptions o;
  for (const std::string& spec : c.probes.empty() ? default_probe_specs() : c.probes) {
    o.probes.push_back(parse_probe_spec(spec));
  }
  o.kinds = c.kinds;
  o.intensities = c.intensities;
  o.corunners = c.corunners;
  o.placements = c.placements;
  o.repeats = c.repeats;
  o.runs = c.runs;
  o.measure_s = c.measure_s;
  o.settle_s = c.settle_s;
  o.sample_s = c.sample_s;
  o.probe_core = c.probe_core;
  o.seed = static_cast<std::uint64_t>(c.seed);
  o.stress_program = std::filesystem::read_symlink("/proc/self/exe").string();
  validate_interference_options(o);
  if (std::filesystem::is_directory(c.output)) {
    throw UsageError("flag --output: " + c.output + " is a folder; expected a CSV file path");
  }

  std::filesystem::path partial = c.output + ".partial";
  CsvWriter writer(partial, interference_csv_header());
  std::map<std::string, std::pair<double, double>> slowdown_range;  // per kind
  std::int64_t rows = 0;
  std::printf("repipe profile interference: %zu probes on CPU %d, writing %s\n", o.probes.size(),
              o.probe_core, c.output.c_str());
  std::fflush(stdout);  // before minutes of work, also when stdout is a file
  std::unique_ptr<Progress> progress;
  o.on_progress = [&](std::int64_t done, std::int64_t total, const std::string& what) {
    if (!progress) progress = std::make_unique<Progress>("configurations", total);
    progress->update(done, what);
  };
  o.on_record = [&](const InterferenceRecord& record) {
    std::vector<std::string> cells = interference_csv_cells(record);
    writer.write_row(std::vector<CsvCell>(cells.begin(), cells.end()));
    auto [it, fresh] = slowdown_range.try_emplace(record.kind, record.slowdown, record.slowdown);
    if (!fresh) {
      it->second.first = std::min(it->second.first, record.slowdown);
      it->second.second = std::max(it->second.second, record.slowdown);
    }
    ++rows;
  };
  auto start = std::chrono::steady_clock::now();
  collect_interference(o);
  if (progress) progress->finish();
  std::filesystem::rename(partial, c.output);
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  for (const auto& [kind, range] : slowdown_range) {
    std::printf("  %-8s slowdown %.2fx .. %.2fx\n", kind.c_str(), range.first, range.second);
  }
  std::printf("wrote %s (%lld rows) in %s\n", c.output.c_str(), static_cast<long long>(rows),
              human_duration_ms(took.count()).c_str());
  return 0;
}

}  // namespace repipe
