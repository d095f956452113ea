// launch/workload_command.cc: `repipe workload synth` over inference/.
#include "launch/workload_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "common/csv_reader.h"
#include "common/error.h"
#include "common/text_format.h"
#include "inference/synthetic_workload.h"
#include "inference/workload_plot.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

std::pair<double, double> latency_range(const std::string& text) {
  const std::size_t comma = text.find(',');
  try {
    if (comma != std::string::npos) {
      std::size_t used_min = 0, used_max = 0;
      const std::string min_text = text.substr(0, comma), max_text = text.substr(comma + 1);
      const double min = std::stod(min_text, &used_min), max = std::stod(max_text, &used_max);
      if (used_min == min_text.size() && used_max == max_text.size()) return {min, max};
    }
  } catch (const std::exception&) {
  }
  throw UsageError("flag --latency-range: expected MIN,MAX in ms, got '" + text + "'");
}

// The InputLen column of a measured sample (`repipe workload sample`: DIR/requests.csv).
std::vector<double> sample_input_lengths(const std::string& dir) {
  const std::string path = (fs::path(dir) / "requests.csv").string();
  CsvTable table = CsvTable::read(path, {"InputLen", "InferenceLatency", "OutputLen"},
                                  "workload sample (requests)");
  std::vector<double> lengths;
  for (std::size_t r = 0; r < table.rows(); ++r) lengths.push_back(table.row(r).number("InputLen"));
  if (lengths.empty()) throw UsageError(path + ": no requests");
  return lengths;
}

int synth(const WorkloadCommand& c) {
  SynthOptions options;
  options.jobs = c.jobs;
  options.batch = c.batch;
  options.rate_downgrade = c.rate_downgrade;
  options.trace_num = c.trace_num;
  options.arrivals = c.arrivals;
  options.seed = c.seed;
  std::tie(options.min_ms, options.max_ms) = latency_range(c.latency_range);
  std::vector<const LatencyPreset*> presets;
  if (c.preset == "all") {
    for (const LatencyPreset& preset : latency_presets()) presets.push_back(&preset);
  } else {
    presets.push_back(&find_latency_preset(c.preset));
  }
  if (!c.sample.empty()) options.input_lengths = sample_input_lengths(c.sample);
  const Trace trace = load_trace(c.trace, REPIPE_SOURCE_DIR);

  // Everything is computed before anything is written: bad input leaves no folder.
  std::vector<SynthWorkload> workloads;
  for (const LatencyPreset* preset : presets) {
    workloads.push_back(synthesize_workload(*preset, trace, options));
  }
  for (const SynthWorkload& w : workloads) {
    const std::string dir =
        c.preset == "all" ? (fs::path(c.output) / w.preset.name).string() : c.output;
    const auto start = std::chrono::steady_clock::now();
    write_synth_workload(w, trace, options, dir);
    const double write_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const bool plotted =
        c.plot &&
        plot_workload(w.jobs, static_cast<int>(w.preset.mu.size()),
                      w.preset.name + " on " + trace.name + ", " +
                          group_thousands(static_cast<std::int64_t>(w.jobs.size())) + " jobs",
                      dir);
    std::printf(
        "%s: %s jobs, %zu modalities, rate %.2f/s, interval %.1f ms, last arrival %.1f s: "
        "wrote %s (%.2f s)%s\n",
        w.preset.name.c_str(), group_thousands(static_cast<std::int64_t>(w.jobs.size())).c_str(),
        w.preset.mu.size(), w.rate_per_s, w.interval_ms, w.jobs.admitted_ms.back() / 1000,
        dir.c_str(), write_s, plotted ? ", jobs.png" : "");
  }
  return 0;
}

}  // namespace

CLI::App* add_workload_command(CLI::App& app, WorkloadCommand& c) {
  CLI::App* workload = app.add_subcommand(
      "workload", "Inference-serving workloads: jobs with latencies and arrival times (DynWork)");
  workload->require_subcommand(0, 1);
  CLI::App* synth = workload->add_subcommand(
      "synth",
      "A synthesized workload: latencies from a mixture of Gaussians, arrivals from a "
      "trace; jobs.bucketed.csv, buckets.csv, setting.csv, jobs.png");
  std::string names;
  for (const LatencyPreset& preset : latency_presets()) names += " " + preset.name;
  synth->footer("Presets:" + names);
  synth->add_option("--preset", c.preset, "a preset (below), or all: DIR/<preset>/")->required();
  synth->add_option("--trace", c.trace, "worldcup | azure:FILE | FILE.csv (time,count) | constant")
      ->capture_default_str();
  synth->add_option("--jobs", c.jobs, "jobs per preset (default: DynWork's count for it)");
  synth->add_option("--batch", c.batch, "the server's batch size (sets the rate)")
      ->capture_default_str();
  synth
      ->add_option("--rate-downgrade", c.rate_downgrade,
                   "the job rate as a share of one batched server's throughput")
      ->capture_default_str();
  synth->add_option("--trace-num", c.trace_num, "intervals the trace is sampled into")
      ->capture_default_str();
  synth->add_option("--arrivals", c.arrivals, "even (DynWork) | poisson | gamma:CV")
      ->capture_default_str();
  synth->add_option("--latency-range", c.latency_range, "MIN,MAX ms the latencies are scaled to")
      ->capture_default_str();
  synth->add_option("--sample", c.sample,
                    "a measured sample folder (requests.csv): InputLen is drawn from it");
  synth->add_option("--seed", c.seed, "shuffle, InputLen and random arrivals")
      ->capture_default_str();
  synth->add_flag("!--no-plot", c.plot, "skip jobs.png");
  synth->add_option("-o,--output", c.output, "the workload folder")->required();
  synth->callback([&c] { c.action = "synth"; });
  return workload;
}

int run_workload_command(const WorkloadCommand& c) {
  if (c.action == "synth") return synth(c);
  throw UsageError("workload: expected a subcommand: synth (see --help)");
}

}  // namespace repipe
