// launch/allocate_simulate.cc: `repipe allocate simulate`: serves a plan in simulation
// (inference/serving_simulator.h) and writes what happened.
//
// DIR (-o) holds summary.csv (per model and "all": requests, served, late, dropped, miss rate,
// P50/P99/max latency, mean batch), gpus.csv (allocated and busy share per GPU),
// reallocations.csv (every CUSUM alarm and what it changed), periods.csv (per period and model:
// arrivals, misses, rate estimate, share) and timeline.png (rate and misses over time, when
// gnuplot is installed). It is written as DIR.partial and renamed, so a failure leaves nothing.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/csv_writer.h"
#include "common/error.h"
#include "inference/allocation.h"
#include "inference/interference_model.h"
#include "inference/model_repository.h"
#include "inference/serving_plot.h"
#include "inference/serving_requests.h"
#include "inference/serving_simulator.h"
#include "inference/trace.h"
#include "launch/allocate_command.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

std::vector<ServingRequest> requests_for(const AllocateCommand& c, const Allocation& plan) {
  if (c.jobs.empty() == c.trace.empty()) {
    throw UsageError("allocate simulate: give exactly one of --jobs (a job file) and --trace");
  }
  if (!c.jobs.empty()) return requests_from_jobs(c.jobs, static_cast<int>(plan.models.size()));
  std::vector<double> rates;
  for (const ModelAllocation& m : plan.models) rates.push_back(m.rate_per_s);
  return requests_from_trace(load_trace(c.trace, REPIPE_SOURCE_DIR), rates, c.duration_s,
                             c.period_s, c.seed);
}

void write_stats_row(CsvWriter& csv, const ModelServingStats& s) {
  csv.write_row({s.model, s.requests, s.served, s.late, s.dropped, s.miss_rate(), s.p50_ms,
                 s.p99_ms, s.max_ms, s.mean_batch});
}

void write_report(const SimulationReport& r, const std::string& title, const fs::path& dir) {
  {
    CsvWriter csv(dir / "summary.csv", {"model", "requests", "served", "late", "dropped",
                                        "miss_rate", "p50_ms", "p99_ms", "max_ms", "mean_batch"});
    for (const ModelServingStats& s : r.models) write_stats_row(csv, s);
    write_stats_row(csv, r.total);
  }
  {
    CsvWriter csv(dir / "gpus.csv", {"gpu", "allocated_percent", "busy_percent"});
    for (const GpuUse& g : r.gpus)
      csv.write_row({static_cast<std::int64_t>(g.gpu), g.allocated_percent, g.busy_percent});
  }
  {
    CsvWriter csv(dir / "reallocations.csv",
                  {"time_s", "model", "old_rate_per_s", "new_rate_per_s", "action", "placements"});
    for (const Reallocation& e : r.reallocations) {
      csv.write_row(
          {e.time_s, e.model, e.old_rate_per_s, e.new_rate_per_s, e.action, e.placements});
    }
  }
  {
    CsvWriter csv(dir / "periods.csv", {"start_s", "model", "arrivals", "missed",
                                        "rate_estimate_per_s", "share_percent"});
    for (const PeriodStats& p : r.periods) {
      csv.write_row({p.start_s, r.models[static_cast<std::size_t>(p.model)].model, p.arrivals,
                     p.missed, p.rate_estimate, static_cast<std::int64_t>(p.share_percent)});
    }
  }
  plot_serving_timeline(r, title, dir / "timeline.png");
}

void print_report(const SimulationReport& r, const Allocation& plan) {
  std::printf("%-14s %9s %9s %7s %8s %9s %9s %9s %6s\n", "model", "requests", "served", "late",
              "dropped", "miss %", "P50 ms", "P99 ms", "batch");
  auto row = [](const ModelServingStats& s) {
    std::printf("%-14s %9lld %9lld %7lld %8lld %9.3f %9.2f %9.2f %6.2f\n", s.model.c_str(),
                static_cast<long long>(s.requests), static_cast<long long>(s.served),
                static_cast<long long>(s.late), static_cast<long long>(s.dropped),
                100 * s.miss_rate(), s.p50_ms, s.p99_ms, s.mean_batch);
  };
  for (const ModelServingStats& s : r.models) row(s);
  row(r.total);
  std::string gpus;
  for (const GpuUse& g : r.gpus) {
    char text[96];
    std::snprintf(text, sizeof text, "%sGPU %d %.1f%% allocated, %.1f%% busy",
                  gpus.empty() ? "" : ", ", g.gpu, g.allocated_percent, g.busy_percent);
    gpus += text;
  }
  std::printf("%s\n", gpus.c_str());
  std::printf("policy %s, %.1f s simulated, %zu re-allocation%s\n", plan.policy.c_str(),
              r.duration_s, r.reallocations.size(), r.reallocations.size() == 1 ? "" : "s");
}

}  // namespace

int run_allocate_simulate(const AllocateCommand& c) {
  const ModelRepository repository = ModelRepository::load(c.repo);
  const Allocation plan = load_allocation(c.plan);
  const std::unique_ptr<DeinferInterference> interference =
      load_interference_model(c.repo, c.predictor);
  const fs::path output = c.output;
  if (fs::exists(output) && !fs::exists(output / "summary.csv")) {
    throw UsageError("flag --output: " + c.output +
                     " exists and is not a simulation folder; expected a new or a "
                     "simulation folder");
  }
  SimulatorOptions options;
  options.period_s = c.period_s;
  options.reallocate = !c.no_reallocate;
  options.cusum.threshold = c.threshold;
  options.cusum.drift = c.drift;
  options.scale_cusum = !c.absolute_cusum;
  options.allocator.min_share = c.min_share;
  options.allocator.margin = c.margin;
  if (c.window < 1) throw UsageError("flag --window: expected at least 1 period");
  options.cusum.window = static_cast<std::size_t>(c.window);
  const SimulationReport report = simulate_serving(repository, plan, requests_for(c, plan),
                                                   *interference, *interference, options);
  print_report(report, plan);

  const fs::path partial = output.string() + ".partial";
  fs::remove_all(partial);
  fs::create_directories(partial);
  try {
    write_report(report, "policy " + plan.policy + ", " + (c.jobs.empty() ? c.trace : c.jobs),
                 partial);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    throw;
  }
  fs::remove_all(output);
  fs::rename(partial, output);
  std::printf("wrote %s: summary.csv, gpus.csv, reallocations.csv, periods.csv%s\n",
              c.output.c_str(), fs::exists(output / "timeline.png") ? ", timeline.png" : "");
  return 0;
}

void add_allocate_simulate(CLI::App* allocate, AllocateCommand& c) {
  CLI::App* simulate = allocate->add_subcommand(
      "simulate",
      "Serve a plan in a discrete-event simulation: dispatch, queues, batching, shares and "
      "interference, CUSUM re-allocation; report deadline misses and latencies");
  simulate->add_option("--repo", c.repo, "the model repository")->required();
  simulate->add_option("--plan", c.plan, "plan.toml of `repipe allocate plan`")->required();
  simulate->add_option("--jobs", c.jobs,
                       "a `repipe workload` jobs.bucketed.csv (bucket k -> the plan's model k "
                       "mod M)");
  simulate->add_option("--trace", c.trace,
                       "Poisson arrivals at the plan's rates, shaped by a trace: worldcup | "
                       "azure:FILE | FILE.csv (time,count) | constant");
  simulate->add_option("--duration", c.duration_s, "seconds to simulate with --trace")
      ->capture_default_str();
  simulate->add_option("--period", c.period_s, "seconds per CUSUM observation")
      ->capture_default_str();
  CLI::Option* threshold = simulate->add_option(
      "--threshold", c.threshold,
      "CUSUM h, arrivals per period (default: 5 sqrt(mu), mu the planned arrivals per period)");
  CLI::Option* drift =
      simulate->add_option("--drift", c.drift, "CUSUM k, arrivals per period (default: 0.05 mu)");
  simulate->add_option("--window", c.window, "periods kept for the rate re-estimate")
      ->capture_default_str();
  simulate->add_flag("--no-reallocate", c.no_reallocate, "keep the plan whatever the rates do");
  simulate->add_option("--min-share", c.min_share, "re-allocations: the smallest share, percent")
      ->capture_default_str();
  simulate->add_option("--margin", c.margin, "re-allocations: a placement needs D <= margin x MaxD")
      ->capture_default_str();
  simulate->add_option("--predictor", c.predictor,
                       "interference coefficients (default: REPO/interference.toml)");
  simulate->add_option("--seed", c.seed, "arrivals drawn with --trace")->capture_default_str();
  simulate->add_option("-o,--output", c.output, "the folder to write")->required();
  simulate->callback([&c, threshold, drift] {
    c.action = "simulate";
    c.absolute_cusum = threshold->count() > 0 || drift->count() > 0;
  });
}

}  // namespace repipe
