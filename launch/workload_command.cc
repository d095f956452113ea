// launch/workload_command.cc: `repipe workload synth|real|sample` over inference/.
#include "launch/workload_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/progress.h"
#include "common/text_format.h"
#include "inference/latency_sampler.h"
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

SynthOptions synth_options(const WorkloadCommand& c, int default_trace_num) {
  SynthOptions options;
  options.jobs = c.jobs;
  options.batch = c.batch;
  options.rate_downgrade = c.rate_downgrade;
  options.trace_num = c.trace_num > 0 ? c.trace_num : default_trace_num;
  options.arrivals = c.arrivals;
  options.seed = c.seed;
  std::tie(options.min_ms, options.max_ms) = latency_range(c.latency_range);
  return options;
}

// Everything is computed before anything is written: bad input leaves no folder.
void write_workloads(const std::vector<SynthWorkload>& workloads, const Trace& trace,
                     const SynthOptions& options, const WorkloadCommand& c, bool one_folder_each) {
  for (const SynthWorkload& w : workloads) {
    const std::string dir =
        one_folder_each ? (fs::path(c.output) / w.preset.name).string() : c.output;
    const auto start = std::chrono::steady_clock::now();
    write_synth_workload(w, trace, options, dir);
    const double write_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string title = w.preset.name + " on " + trace.name + ", " +
                              group_thousands(static_cast<std::int64_t>(w.jobs.size())) + " jobs";
    const bool plotted =
        c.plot && plot_workload(w.jobs, static_cast<int>(w.preset.mu.size()), title, dir);
    std::printf(
        "%s: %s jobs, %zu modalities, rate %.2f/s, interval %.1f ms, last arrival %.1f s: "
        "wrote %s (%.2f s)%s\n",
        w.preset.name.c_str(), group_thousands(static_cast<std::int64_t>(w.jobs.size())).c_str(),
        w.preset.mu.size(), w.rate_per_s, w.interval_ms, w.jobs.admitted_ms.back() / 1000,
        dir.c_str(), write_s, plotted ? ", jobs.png" : "");
  }
}

int synth(const WorkloadCommand& c) {
  SynthOptions options = synth_options(c, 50);
  std::vector<const LatencyPreset*> presets;
  if (c.preset == "all") {
    for (const LatencyPreset& preset : latency_presets()) presets.push_back(&preset);
  } else {
    presets.push_back(&find_latency_preset(c.preset));
  }
  // InputLen and latencies.csv come from a measured sample: the user's, or the one repipe ships
  // (gpt2-tiny generating on the development VM's CPU, data/workload-sample/).
  const std::string sample_dir =
      c.sample.empty() ? (fs::path(REPIPE_SOURCE_DIR) / "data/workload-sample").string() : c.sample;
  const MeasuredSample sample = read_measured_sample(sample_dir);
  for (const RequestSample& r : sample.requests) options.input_lengths.push_back(r.input_len);
  options.batch_curve = sample.batch_curve;
  const Trace trace = load_trace(c.trace, REPIPE_SOURCE_DIR);
  std::vector<SynthWorkload> workloads;
  for (const LatencyPreset* preset : presets) {
    workloads.push_back(synthesize_workload(*preset, trace, options));
  }
  write_workloads(workloads, trace, options, c, c.preset == "all");
  return 0;
}

// DynWork's real-dataset generator: two modalities at the sample's P5 and P95 latencies, sigmas
// 0.5 and 2 ms, not rescaled; the rate from the sample's mean latency.
int real(const WorkloadCommand& c) {
  SynthOptions options = synth_options(c, 100);
  const MeasuredSample sample = read_measured_sample(c.sample);
  std::vector<double> latencies;
  for (const RequestSample& r : sample.requests) {
    latencies.push_back(r.latency_ms);
    options.input_lengths.push_back(r.input_len);
  }
  options.scale_to_range = false;
  options.mean_latency_ms = std::accumulate(latencies.begin(), latencies.end(), 0.0) /
                            static_cast<double>(latencies.size());
  options.batch_curve = sample.batch_curve;
  if (options.jobs == 0) options.jobs = 1000;
  const LatencyPreset preset{"real",
                             "Real",
                             {quantile_of(latencies, 0.05), quantile_of(latencies, 0.95)},
                             {0.5, 2},
                             options.jobs};
  const Trace trace = load_trace(c.trace, REPIPE_SOURCE_DIR);
  write_workloads({synthesize_workload(preset, trace, options)}, trace, options, c, false);
  return 0;
}

int sample(const WorkloadCommand& c) {
  if (fs::exists(c.output) && !fs::is_directory(c.output)) {
    throw UsageError("flag --output: " + c.output + " is a file; expected a folder");
  }
  LatencySampleOptions options;
  options.model = c.model;
  options.device = c.device;
  options.num = c.num;
  options.max_batch = c.max_batch;
  options.min_len = c.min_len;
  options.max_len = c.max_len;
  options.max_new_tokens = c.max_new_tokens;
  options.seed = c.seed;
  std::unique_ptr<Progress> progress;
  options.on_progress = [&](std::int64_t done, std::int64_t total) {
    if (!progress) progress = std::make_unique<Progress>("runs", total);
    progress->update(done, done <= c.num ? "requests" : "batch curve");
  };
  MeasuredSample measured = measure_latency_sample(options);
  if (progress) progress->finish();
  const std::size_t drawn = measured.requests.size();
  measured.requests = without_outliers(std::move(measured.requests));
  const std::string partial = c.output + ".partial";
  fs::remove_all(partial);
  write_measured_sample(measured, partial);
  fs::remove_all(c.output);
  fs::rename(partial, c.output);
  std::vector<double> latencies;
  for (const RequestSample& r : measured.requests) latencies.push_back(r.latency_ms);
  std::printf(
      "%s on %s: %zu requests (%zu outliers dropped), latency P5 %.2f ms, P50 %.2f ms, "
      "P95 %.2f ms; batch 1..%lld: %.2f .. %.2f ms\nwrote %s (requests.csv, batch.csv)\n",
      c.model.c_str(), c.device.c_str(), measured.requests.size(), drawn - measured.requests.size(),
      quantile_of(latencies, 0.05), quantile_of(latencies, 0.5), quantile_of(latencies, 0.95),
      static_cast<long long>(c.max_batch), measured.batch_curve.front().latency_ms,
      measured.batch_curve.back().latency_ms, c.output.c_str());
  return 0;
}

// The flags synth and real share.
void add_generation_flags(CLI::App* app, WorkloadCommand& c) {
  app->add_option("--trace", c.trace, "worldcup | azure:FILE | FILE.csv (time,count) | constant")
      ->capture_default_str();
  app->add_option("--batch", c.batch, "the server's batch size (sets the rate)")
      ->capture_default_str();
  app->add_option("--rate-downgrade", c.rate_downgrade,
                  "the job rate as a share of one batched server's throughput")
      ->capture_default_str();
  app->add_option("--arrivals", c.arrivals, "even (DynWork) | poisson | gamma:CV")
      ->capture_default_str();
  app->add_option("--seed", c.seed, "shuffle, InputLen and random arrivals")->capture_default_str();
  app->add_flag("!--no-plot", c.plot, "skip jobs.png");
  app->add_option("-o,--output", c.output, "the workload folder")->required();
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
  synth->add_option("--jobs", c.jobs, "jobs per preset (default: DynWork's count for it)");
  synth->add_option("--trace-num", c.trace_num, "intervals the trace is sampled into (default 50)");
  synth->add_option("--latency-range", c.latency_range, "MIN,MAX ms the latencies are scaled to")
      ->capture_default_str();
  synth->add_option("--sample", c.sample,
                    "a `workload sample` folder: InputLen drawn from it, its batch curve as "
                    "latencies.csv (default: data/workload-sample, gpt2-tiny on a CPU)");
  add_generation_flags(synth, c);
  synth->callback([&c] { c.action = "synth"; });

  CLI::App* real = workload->add_subcommand(
      "real", "A workload from a measured sample: modalities at its P5 and P95 latencies");
  real->add_option("--sample", c.sample, "a `repipe workload sample` folder")->required();
  real->add_option("--jobs", c.jobs, "jobs (default 1000)");
  real->add_option("--trace-num", c.trace_num, "intervals the trace is sampled into (default 100)");
  add_generation_flags(real, c);
  real->callback([&c] { c.action = "real"; });

  CLI::App* sample = workload->add_subcommand(
      "sample", "Measure a zoo model's inference latency per request and per batch size");
  sample->add_option("--model", c.model, "a zoo model (repipe profile --help lists them)")
      ->required();
  sample->add_option("--device", c.device, "cpu | cuda | cuda:N")->capture_default_str();
  sample->add_option("--num", c.num, "requests to time")->capture_default_str();
  sample->add_option("--max-batch", c.max_batch, "the batch curve's largest batch")
      ->capture_default_str();
  sample->add_option("--min-len", c.min_len, "shortest input, tokens (language models)")
      ->capture_default_str();
  sample
      ->add_option("--max-len", c.max_len, "longest input, tokens (0: as long as the model takes)")
      ->capture_default_str();
  sample->add_option("--max-new-tokens", c.max_new_tokens, "GPT: longest generated output")
      ->capture_default_str();
  sample->add_option("--seed", c.seed, "weights, inputs and drawn lengths")->capture_default_str();
  sample->add_option("-o,--output", c.output, "the sample folder")->required();
  sample->callback([&c] { c.action = "sample"; });
  return workload;
}

int run_workload_command(const WorkloadCommand& c) {
  if (c.action == "synth") return synth(c);
  if (c.action == "real") return real(c);
  if (c.action == "sample") return sample(c);
  throw UsageError("workload: expected a subcommand: synth, real or sample (see --help)");
}

}  // namespace repipe
