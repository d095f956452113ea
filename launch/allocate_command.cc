// launch/allocate_command.cc: `repipe allocate profile|plan|cusum` (simulate: allocate_simulate.cc)
// over inference/'s allocator.
#include "launch/allocate_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include "common/atomic_file.h"
#include "common/csv_reader.h"
#include "common/error.h"
#include "common/text_format.h"
#include "inference/allocation.h"
#include "inference/gpu_allocator.h"
#include "inference/interference_model.h"
#include "inference/model_repository.h"
#include "inference/rate_cusum.h"
#include "inference/runtime_profiler.h"
#include "models/zoo.h"
#include "profiler/gpu_stress.h"

extern char** environ;

namespace repipe {
namespace {

namespace fs = std::filesystem;

// "1,2,4" -> {1, 2, 4}; anything else is a UsageError naming the flag.
std::vector<int> int_list(const std::string& text, const std::string& flag) {
  std::vector<int> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    std::size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) {
      throw UsageError("flag " + flag + ": expected integers separated by commas, got '" + text +
                       "'");
    }
    values.push_back(value);
  }
  if (values.empty()) throw UsageError("flag " + flag + ": expected at least one integer");
  return values;
}

// The output must be a folder we can write, checked before minutes of measuring.
void check_output_folder(const std::string& output) {
  std::error_code error;
  if (fs::exists(output, error) && !fs::is_directory(output, error)) {
    throw UsageError("flag --output: " + output + " is a file; expected a model repository folder");
  }
}

// ---- profile ----------------------------------------------------------------------------------

// Runs this binary again with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = share (MPS reads it when CUDA
// starts, so each share needs a process of its own); the child writes its rows to `rows_path`.
void run_share_child(const AllocateCommand& c, int share, const std::string& rows_path) {
  const std::vector<std::string> args = {"repipe",
                                         "allocate",
                                         "profile",
                                         "--model",
                                         c.model,
                                         "--device",
                                         c.device,
                                         "--batch-sizes",
                                         c.batch_sizes,
                                         "--shares",
                                         c.shares,
                                         "--share-method",
                                         "mps",
                                         "--threads",
                                         std::to_string(c.threads),
                                         "--warmup",
                                         std::to_string(c.warmup),
                                         "--repeats",
                                         std::to_string(c.repeats),
                                         "--seed",
                                         std::to_string(c.seed),
                                         "--share-rows",
                                         rows_path,
                                         "-o",
                                         c.output};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (std::string(*e).rfind("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=", 0) != 0) env.push_back(*e);
  }
  env.push_back("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=" + std::to_string(share));
  std::vector<char*> argv, envp;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  std::fflush(stdout);
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()) != 0) {
    throw std::runtime_error("cannot start the measurement at MPS share " + std::to_string(share));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("the measurement at MPS share " + std::to_string(share) +
                             " failed (see its message above)");
  }
}

std::vector<RuntimePoint> read_share_rows(const std::string& path) {
  const CsvTable table =
      CsvTable::read(path, {"batch_size", "share", "latency_ms"}, "MPS share measurement");
  std::vector<RuntimePoint> points;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const CsvRow row = table.row(r);
    points.push_back({static_cast<int>(row.integer("batch_size")),
                      static_cast<int>(row.integer("share")), row.number("latency_ms")});
  }
  return points;
}

std::vector<RuntimePoint> measure_under_mps(const AllocateCommand& c,
                                            const RuntimeProfileOptions& o) {
  const fs::path dir = fs::temp_directory_path() / ("repipe-mps-" + std::to_string(::getpid()));
  create_folder(dir);
  std::vector<RuntimePoint> points;
  try {
    for (int share : o.shares) {
      const std::string rows = (dir / ("share-" + std::to_string(share) + ".csv")).string();
      run_share_child(c, share, rows);
      for (const RuntimePoint& p : read_share_rows(rows)) points.push_back(p);
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    throw;
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return points;
}

int run_profile(const AllocateCommand& c) {
  RuntimeProfileOptions o;
  o.model = c.model;
  o.device = c.device;
  o.batch_sizes = int_list(c.batch_sizes, "--batch-sizes");
  o.shares = int_list(c.shares, "--shares");
  o.method = choose_share_method(c.share_method, c.device);
  o.threads = c.threads;
  o.warmup = c.warmup;
  o.repeats = c.repeats;
  o.slo_ms = c.slo_ms;
  o.seed = c.seed;
  o.on_measured = [](const std::string& line) {
    std::printf("  %s\n", line.c_str());
    std::fflush(stdout);
  };
  check_runtime_profile_options(o);
  check_output_folder(c.output);
  // The model and the device, before anything is announced or measured.
  const std::vector<std::string>& zoo = zoo_model_names();
  if (std::find(zoo.begin(), zoo.end(), c.model) == zoo.end()) {
    throw UsageError("flag --model: unknown model '" + c.model +
                     "' (the zoo has: " + zoo_model_list() + ")");
  }
  if (c.device != "cpu") {
    if (c.device.rfind("cuda", 0) != 0) {
      throw UsageError("flag --device: expected cpu, cuda or cuda:N, got '" + c.device + "'");
    }
    check_cuda_device(c.device);
  }

  const bool mps_child = o.method == ShareMethod::kMps && mps_share_of_this_process() != 0;
  if (mps_child != !c.share_rows.empty()) {
    throw UsageError(mps_child ? "allocate profile: started with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE "
                                 "set; unset it (the command sets it for each share)"
                               : "flag --share-rows: for the per-share measurements only");
  }
  if (mps_child) {
    std::ostringstream rows;
    rows << kRuntimeProfileHeader << "\n";
    for (const RuntimePoint& p : measure_share_runtimes(o)) {
      rows << p.batch_size << "," << p.share << "," << format_double(p.latency_ms) << "\n";
    }
    write_file_atomically(c.share_rows, rows.str());
    return 0;
  }

  std::printf("profiling %s on %s, shares %s (%s)\n", c.model.c_str(), c.device.c_str(),
              c.shares.c_str(), share_method_name(o.method));
  std::fflush(stdout);
  const std::vector<RuntimePoint> points =
      o.method == ShareMethod::kMps ? measure_under_mps(c, o) : measure_share_runtimes(o);
  ModelEntry entry;
  entry.runtime = RuntimeProfile(points);
  entry.config = measure_model_config(o, *entry.runtime);
  save_model_entry(entry, c.output);

  const std::string lowest = "ms at " + std::to_string(o.shares.front()) + "%";
  std::printf("%6s  %12s  %12s  %10s  %14s\n", "batch", "ms at 100%", lowest.c_str(), "GFLOP/s",
              "memory load %");
  for (const BatchFeatures& f : entry.config.features) {
    std::printf("%6d  %12.3f  %12.3f  %10.2f  %14.2f\n", f.batch_size,
                entry.runtime->latency_ms(f.batch_size, 100),
                entry.runtime->latency_ms(f.batch_size, o.shares.front()), f.gflops, f.memory_load);
  }
  std::printf("SLO %s ms%s\nwrote %s (%s, %s)\n", format_double(entry.config.slo_ms).c_str(),
              c.slo_ms > 0 ? "" : " (4 x the largest batch at full share)",
              (fs::path(c.output) / c.model).string().c_str(), kModelConfigFile,
              kRuntimeProfileFile);
  return 0;
}

// ---- plan -------------------------------------------------------------------------------------

void print_allocation(const Allocation& a) {
  std::printf("policy %s on %d GPU%s; interference: %s\n", a.policy.c_str(), a.gpus,
              a.gpus == 1 ? "" : "s", a.predictor.c_str());
  std::size_t width = 5;
  for (const ModelAllocation& m : a.models) width = std::max(width, m.model.size());
  const int w = static_cast<int>(width);
  std::printf("%-*s  %9s  %8s  %3s  %5s  %5s  %9s  %9s  %8s  %8s  %8s  %s\n", w, "model", "rate/s",
              "SLO ms", "gpu", "share", "batch", "served/s", "batch ms", "slowdown", "D ms",
              "MaxD ms", "SLO");
  for (const ModelAllocation& m : a.models) {
    if (m.placements.empty()) {
      std::printf("%-*s  %9.2f  %8.2f  (no load: no GPU)\n", w, m.model.c_str(), m.rate_per_s,
                  m.slo_ms);
    }
    for (std::size_t j = 0; j < m.placements.size(); ++j) {
      const Placement& p = m.placements[j];
      const bool first = j == 0;
      std::printf("%-*s  %9s  %8s  %3d  %4d%%  %5d  %9.2f  %9.3f  %8.4f  %8.4f  %8.4f  %s\n", w,
                  first ? m.model.c_str() : "", first ? format_fixed(m.rate_per_s, 2).c_str() : "",
                  first ? format_fixed(m.slo_ms, 2).c_str() : "", p.gpu, p.share, p.batch_size,
                  p.rate_per_s, p.latency_ms * p.slowdown, p.slowdown, p.item_time_ms,
                  p.max_item_time_ms, p.meets_slo ? "ok" : "MISSED");
    }
  }
  const std::vector<int> shares = a.gpu_shares();
  std::string totals;
  int total = 0;
  for (std::size_t g = 0; g < shares.size(); ++g) {
    totals += (g ? ", " : "") + std::string("GPU ") + std::to_string(g) + " " +
              std::to_string(shares[g]) + "%";
    total += shares[g];
  }
  std::printf("%s\n", totals.c_str());
  int missed = 0;
  for (const ModelAllocation& m : a.models) {
    for (const Placement& p : m.placements) missed += !p.meets_slo;
  }
  std::printf("%zu model%s on %d of %d GPU%s, %d%% of their capacity in use; %s\n", a.models.size(),
              a.models.size() == 1 ? "" : "s", a.gpus_used(), a.gpus, a.gpus == 1 ? "" : "s",
              total / std::max(1, a.gpus),
              missed == 0
                  ? "every placement meets its SLO"
                  : (std::to_string(missed) + " placement(s) predicted to miss the SLO").c_str());
}

int run_plan(const AllocateCommand& c) {
  const AllocationPolicy policy = parse_allocation_policy(c.policy, "flag --policy");
  const ModelRepository repository = ModelRepository::load(c.repo);
  const std::vector<ModelLoad> loads = load_model_loads(c.load, repository);
  const std::unique_ptr<DeinferInterference> interference =
      load_interference_model(c.repo, c.predictor);
  AllocatorOptions options;
  options.min_share = c.min_share;
  options.margin = c.margin;
  const Allocation allocation = allocate(repository, loads, c.gpus, policy, *interference, options);
  print_allocation(allocation);
  if (!c.output.empty()) {
    save_allocation(allocation, c.output);
    std::printf("wrote %s\n", c.output.c_str());
  }
  return 0;
}

// ---- cusum ------------------------------------------------------------------------------------

int run_cusum(const AllocateCommand& c) {
  CusumOptions options;
  options.threshold = c.threshold;
  options.drift = c.drift;
  if (c.window < 1) throw UsageError("flag --window: expected at least 1 observation");
  options.window = static_cast<std::size_t>(c.window);
  if (!c.initial_rate.empty()) {
    std::size_t used = 0;
    double rate = -1;
    try {
      rate = std::stod(c.initial_rate, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != c.initial_rate.size()) {
      throw UsageError("flag --initial-rate: expected a number, got '" + c.initial_rate + "'");
    }
    options.initial_rate = rate;
  }
  RateCusum cusum(options);  // checks the options before the file is read
  const RateSeries series = read_rate_series(c.rates);
  std::ostringstream csv;
  csv << "index,time,direction,previous_rate,new_rate\n";
  std::size_t alarms = 0;
  for (std::size_t i = 0; i < series.count.size(); ++i) {
    const std::optional<RateChange> change = cusum.observe(series.count[i]);
    if (!change) continue;
    ++alarms;
    const double previous = change->previous_rate / series.period_s;
    const double next = change->new_rate / series.period_s;
    std::printf("alarm %zu: index %zu, time %s s: %s, rate %.2f/s -> %.2f/s\n", alarms, i,
                format_double(series.time_s[i]).c_str(), rate_direction_name(change->direction),
                previous, next);
    csv << i << "," << format_double(series.time_s[i]) << ","
        << rate_direction_name(change->direction) << "," << format_double(previous) << ","
        << format_double(next) << "\n";
  }
  std::printf(
      "%zu alarm%s over %zu intervals of %s s (h = %s, k = %s, window %d); rate now "
      "%.2f/s\n",
      alarms, alarms == 1 ? "" : "s", series.count.size(), format_double(series.period_s).c_str(),
      format_double(c.threshold).c_str(), format_double(c.drift).c_str(), c.window,
      cusum.rate() / series.period_s);
  if (!c.output.empty()) {
    write_file_atomically(c.output, csv.str());
    std::printf("wrote %s\n", c.output.c_str());
  }
  return 0;
}

// ---- The subcommands ----------------------------------------------------------------------------

void add_profile(CLI::App* allocate, AllocateCommand& c) {
  CLI::App* profile = allocate->add_subcommand(
      "profile",
      "Measure a zoo model's batch latency per batch size and GPU share, and its "
      "interference features, into a model repository");
  profile->add_option("--model", c.model, "a zoo model (repipe profile --help lists them)")
      ->required();
  profile->add_option("--device", c.device, "cpu | cuda | cuda:N")->capture_default_str();
  profile->add_option("--batch-sizes", c.batch_sizes, "the batch sizes to serve at")
      ->capture_default_str();
  profile->add_option("--shares", c.shares, "GPU shares in percent, 100 included")
      ->capture_default_str();
  profile
      ->add_option("--share-method", c.share_method,
                   "auto (mps when the MPS daemon runs, else scaled) | mps | scaled (latency at "
                   "100% x 100/s) | threads (CPU: s% of the threads)")
      ->capture_default_str();
  profile->add_option("--threads", c.threads, "CPU threads at full share (0: libtorch's default)")
      ->capture_default_str();
  profile->add_option("--warmup", c.warmup, "untimed runs per measurement")->capture_default_str();
  profile->add_option("--repeats", c.repeats, "timed runs per measurement (the median is kept)")
      ->capture_default_str();
  profile->add_option("--slo-ms", c.slo_ms,
                      "the model's SLO (default: 4 x its largest batch at full share)");
  profile->add_option("--seed", c.seed, "weights and inputs")->capture_default_str();
  profile->add_option("--share-rows", c.share_rows)->group("");  // the per-share children's
  profile->add_option("-o,--output", c.output, "the model repository (REPO/<model>/ is written)")
      ->required();
  profile->callback([&c] { c.action = "profile"; });
}

void add_plan(CLI::App* allocate, AllocateCommand& c) {
  CLI::App* plan = allocate->add_subcommand(
      "plan",
      "Choose per model the batch size, GPU share(s) and GPU(s) that meet its SLO at its "
      "arrival rate");
  plan->add_option("--repo", c.repo, "the model repository")->required();
  plan->add_option("--load", c.load, "load.toml: [[models]] name, rate (/s), slo_ms")->required();
  plan->add_option("--gpus", c.gpus, "GPUs available")->capture_default_str();
  plan->add_option("--policy", c.policy,
                   "deinfer (queueing- and interference-aware) | even | greedy (no "
                   "interference prediction)")
      ->capture_default_str();
  plan->add_option("--predictor", c.predictor,
                   "a `repipe predictor train` folder for the interference coefficients "
                   "(default: REPO/interference.toml, else DeInfer-scale defaults)");
  plan->add_option("--min-share", c.min_share, "the smallest GPU share a model gets, percent")
      ->capture_default_str();
  plan->add_option("--margin", c.margin, "a new placement needs D <= margin x MaxD")
      ->capture_default_str();
  plan->add_option("-o,--output", c.output, "plan.toml to write (written whole or not at all)");
  plan->callback([&c] { c.action = "plan"; });
}

void add_cusum(CLI::App* allocate, AllocateCommand& c) {
  CLI::App* cusum = allocate->add_subcommand(
      "cusum", "Detect arrival-rate changes (two-sided CUSUM, DeInfer's re-estimate)");
  cusum->add_option("--rates", c.rates, "a time,count CSV: arrivals per interval")->required();
  cusum->add_option("--threshold", c.threshold, "h, arrivals per interval")->capture_default_str();
  cusum->add_option("--drift", c.drift, "k, arrivals per interval")->capture_default_str();
  cusum->add_option("--window", c.window, "intervals kept for the re-estimate")
      ->capture_default_str();
  cusum->add_option("--initial-rate", c.initial_rate,
                    "the rate estimate before the first alarm (default: the first count)");
  cusum->add_option("-o,--output", c.output, "alarms.csv to write");
  cusum->callback([&c] { c.action = "cusum"; });
}

}  // namespace

CLI::App* add_allocate_command(CLI::App& app, AllocateCommand& c) {
  CLI::App* allocate = app.add_subcommand(
      "allocate",
      "GPU allocation for inference serving: model repository, plans, rate changes "
      "(DeInfer)");
  allocate->require_subcommand(1);
  add_profile(allocate, c);
  add_plan(allocate, c);
  add_cusum(allocate, c);
  add_allocate_simulate(allocate, c);
  return allocate;
}

int run_allocate_command(const AllocateCommand& c) {
  if (c.action == "profile") return run_profile(c);
  if (c.action == "plan") return run_plan(c);
  if (c.action == "cusum") return run_cusum(c);
  if (c.action == "simulate") return run_allocate_simulate(c);
  throw UsageError(
      "allocate: expected a subcommand: profile, plan, cusum or simulate (see --help)");
}

}  // namespace repipe
