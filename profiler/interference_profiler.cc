// profiler/interference_profiler.cc: probes, stress configurations, and the measuring loop.
#include "profiler/interference_profiler.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include <torch/torch.h>
#include <unistd.h>

#include "common/cpu_affinity.h"
#include "common/error.h"
#include "datasets/synthetic.h"
#include "models/zoo.h"
#include "profiler/block_features.h"
#include "profiler/block_profiler.h"
#include "profiler/load_sampler.h"
#include "profiler/slice_run.h"
#include "profiler/stress_process.h"

namespace repipe {
namespace {

constexpr const char* kProbeForm = "'<model>[:<first>-<last>]@<batch>', e.g. resnet-mini:1-3@16";
constexpr double kCorunnerSeconds = 3600;  // co-runners are stopped, never timed out

std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// One stress configuration; kind "none" has no co-runner.
struct Configuration {
  std::string kind;
  double intensity = 0;
  int corunners = 0;
  std::string placement;

  std::string describe() const {
    if (kind == "none") return "alone";
    char text[96];
    std::snprintf(text, sizeof(text), "%d x %s at %.2f on the %s core", corunners, kind.c_str(),
                  intensity, placement == "same" ? "probe's" : "other");
    return text;
  }
};

std::vector<Configuration> configurations(const InterferenceOptions& o) {
  std::vector<Configuration> list = {{"none", 0, 0, "same"}};
  for (const std::string& kind : o.kinds) {
    for (double intensity : o.intensities) {
      for (int corunners : o.corunners) {
        for (const std::string& placement : o.placements) {
          list.push_back({kind, intensity, corunners, placement});
        }
      }
    }
  }
  return list;
}

// Pins the calling thread to one core and libtorch to one thread; restores both on exit.
class PinnedProbeThread {
 public:
  explicit PinnedProbeThread(int core)
      : affinity_({core}, "--probe-core"), threads_(torch::get_num_threads()) {
    torch::set_num_threads(1);
  }
  ~PinnedProbeThread() { torch::set_num_threads(threads_); }
  PinnedProbeThread(const PinnedProbeThread&) = delete;
  PinnedProbeThread& operator=(const PinnedProbeThread&) = delete;

 private:
  ScopedAffinity affinity_;
  int threads_;
};

// A probe ready to run: its model, the slice's input and its per-block features.
struct Probe {
  ProbeSpec spec;
  std::string name;
  Model model;
  std::size_t first = 0;
  std::size_t last = 0;
  std::vector<BlockFeatures> blocks;
  std::unique_ptr<SliceRun> run;

  int runs = 1;  // per measurement: --runs, or more for a probe shorter than --measure / --runs

  // Appends `count` timed forward-and-backward runs, after one untimed run (it absorbs the
  // switch from the previous state: caches, and the scheduler's credit to a resumed co-runner).
  void time_runs(int count, std::vector<double>& times_ms) {
    DeviceStopwatch stopwatch(torch::kCPU);
    run->step_ms(stopwatch);
    for (int r = 0; r < count; ++r) times_ms.push_back(run->step_ms(stopwatch));
  }
};

// Alone and co-located timings of one probe, interleaved in blocks: the co-runners are paused
// for the alone blocks. Both medians then come from the same few hundred milliseconds, so the
// VM's own drifts (+-20% over seconds on a shared host) cancel out of their ratio.
struct ProbeTiming {
  double alone_ms = 0;
  double colocated_ms = 0;
};
constexpr int kTimingBlocks = 2;

ProbeTiming time_probe(Probe& probe, std::vector<std::unique_ptr<StressProcess>>& corunners) {
  std::vector<double> alone;
  std::vector<double> colocated;
  const int per_block = (probe.runs + kTimingBlocks - 1) / kTimingBlocks;
  for (int block = 0; block < kTimingBlocks; ++block) {
    for (auto& corunner : corunners) corunner->pause();
    probe.time_runs(per_block, alone);
    for (auto& corunner : corunners) corunner->resume();
    probe.time_runs(per_block, colocated);
  }
  return {median_of(alone), median_of(colocated)};
}

std::unique_ptr<Probe> load_probe(const ProbeSpec& spec, std::uint64_t seed) {
  auto probe = std::make_unique<Probe>();
  probe->spec = spec;
  ModelOptions model_options;
  model_options.seed = seed;
  probe->model = build_model(spec.model, model_options);
  std::size_t blocks = probe->model.blocks.size();
  probe->first = spec.first_block < 0 ? 0 : static_cast<std::size_t>(spec.first_block);
  probe->last = spec.last_block < 0 ? blocks - 1 : static_cast<std::size_t>(spec.last_block);
  if (probe->last >= blocks || probe->first > probe->last) {
    throw UsageError("probe " + spec.model + ": blocks " + std::to_string(probe->first) + "-" +
                     std::to_string(probe->last) + " outside its 0-" + std::to_string(blocks - 1));
  }
  probe->name = spec.model + "[" + std::to_string(probe->first) + "-" +
                std::to_string(probe->last) + "]@b" + std::to_string(spec.batch_size);

  ProfileOptions profile_options;
  profile_options.batch_size = spec.batch_size;
  profile_options.repeats = 1;
  profile_options.warmup = 0;
  profile_options.seed = seed;
  Profile profile = profile_model(probe->model, profile_options);
  probe->blocks = measure_block_features(probe->model, profile, spec.batch_size, seed);

  Batch batch = synthetic_batch(probe->model.sample, spec.batch_size, seed, DataStream::kTrain, 0);
  Bundle input = run_blocks_before(probe->model, probe->first, batch.inputs);
  probe->run = std::make_unique<SliceRun>(probe->model, probe->first, probe->last, input,
                                          batch.targets, seed);
  return probe;
}

double memory_util_percent(double gbps, double peak_gbps) {
  return peak_gbps > 0 ? 100 * gbps / peak_gbps : 0;
}

}  // namespace

ProbeSpec parse_probe_spec(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return UsageError("probe '" + std::string(text) + "': " + why + "; expected " + kProbeForm);
  };
  std::size_t at = text.rfind('@');
  if (at == std::string_view::npos) throw bad("no batch size");
  ProbeSpec spec;
  std::optional<std::int64_t> batch = parse_integer(text.substr(at + 1));
  if (!batch || *batch < 1) throw bad("the batch size is not an integer >= 1");
  spec.batch_size = *batch;
  std::string_view head = text.substr(0, at);
  std::size_t colon = head.find(':');
  spec.model = std::string(head.substr(0, colon));
  if (spec.model.empty()) throw bad("no model");
  if (colon != std::string_view::npos) {
    std::string_view range = head.substr(colon + 1);
    std::size_t dash = range.find('-');
    std::optional<std::int64_t> first = parse_integer(range.substr(0, dash));
    std::optional<std::int64_t> last =
        dash == std::string_view::npos ? first : parse_integer(range.substr(dash + 1));
    if (!first || !last || *first < 0 || *last < *first) throw bad("a bad block range");
    spec.first_block = static_cast<int>(*first);
    spec.last_block = static_cast<int>(*last);
  }
  return spec;
}

const std::vector<std::string>& default_probe_specs() {
  // 6-25 ms each on one core of a 2-core VM: long enough to time, short enough for ~100 configs.
  static const std::vector<std::string> specs = {
      "mlp@2048",           "mlp@8192",        "small_cnn@16", "small_cnn:0-1@64", "resnet-mini@8",
      "resnet-mini:2-4@16", "bert-tiny:1-2@2", "gpt2-tiny@4",  "resnet50:10@1",    "vgg16:15@8",
  };
  return specs;
}

void validate_interference_options(const InterferenceOptions& o) {
  if (o.probes.empty()) throw UsageError("flag --probes: expected at least one probe");
  for (const std::string& kind : o.kinds) parse_stress_kind(kind);
  for (double intensity : o.intensities) {
    if (!(intensity > 0 && intensity <= 1)) {
      throw UsageError("flag --intensities: expected values in (0, 1], got " +
                       std::to_string(intensity));
    }
  }
  for (int c : o.corunners) {
    if (c < 1) throw UsageError("flag --corunners: expected integers >= 1");
  }
  for (const std::string& p : o.placements) {
    if (p != "same" && p != "other") {
      throw UsageError("flag --placements: expected same | other, got '" + p + "'");
    }
  }
  if (o.kinds.empty() || o.intensities.empty() || o.corunners.empty() || o.placements.empty()) {
    throw UsageError("flags --kinds, --intensities, --corunners, --placements: none may be empty");
  }
  if (o.repeats < 1) throw UsageError("flag --repeats: expected an integer >= 1");
  if (o.runs < 1) throw UsageError("flag --runs: expected an integer >= 1");
  if (!(o.measure_s >= 0)) throw UsageError("flag --measure: expected seconds >= 0");
  if (!(o.settle_s >= 0) || !(o.sample_s > 0)) {
    throw UsageError("flags --settle/--sample: expected seconds >= 0 and > 0");
  }
  require_usable_cpus({o.probe_core}, "flag --probe-core");
  bool other = std::find(o.placements.begin(), o.placements.end(), "other") != o.placements.end();
  if (other && calling_thread_cpus().size() < 2) {
    throw UsageError("flag --placements: 'other' needs a second CPU; this process has one");
  }
  if (o.stress_program.empty()) throw UsageError("no stress program (the repipe binary)");
}

void collect_interference(const InterferenceOptions& o) {
  validate_interference_options(o);
  std::vector<std::unique_ptr<Probe>> probes;
  for (const ProbeSpec& spec : o.probes) probes.push_back(load_probe(spec, o.seed));

  // Before pinning: afterwards this thread's affinity is the probe's core alone.
  int other_core = o.probe_core;
  for (int c : calling_thread_cpus()) {
    if (c != o.probe_core) {
      other_core = c;
      break;
    }
  }
  PinnedProbeThread pinned(o.probe_core);
  // A process's first runs are slow (page faults, allocator, caches): warm everything up before
  // the calibrations and the first alone time, or the first configuration reads as a speed-up.
  for (auto& probe : probes) {
    std::vector<double> warmup_ms;
    probe->time_runs(o.runs, warmup_ms);
    const double ms = median_of(warmup_ms);
    probe->runs = std::max(o.runs, static_cast<int>(std::ceil(o.measure_s * 1e3 / ms)));
  }
  LoadSampleOptions sample_options;
  sample_options.seconds = o.sample_s;
  sample_options.calibration = calibrate_load_probes({o.probe_core});
  StressOptions peak;
  peak.kind = StressKind::kMemory;
  peak.seconds = 0.5;
  peak.cores = {o.probe_core};
  double peak_gbps = run_cpu_stress(peak).gbps;

  std::filesystem::path reports = std::filesystem::temp_directory_path() /
                                  ("repipe-interference-" + std::to_string(::getpid()));
  std::filesystem::create_directories(reports);
  std::vector<Configuration> configs = configurations(o);
  std::int64_t total = static_cast<std::int64_t>(configs.size()) * o.repeats;
  std::int64_t done = 0;
  for (int repeat = 0; repeat < o.repeats; ++repeat) {
    for (const Configuration& config : configs) {
      if (o.on_progress) o.on_progress(done, total, config.describe());

      std::vector<std::unique_ptr<StressProcess>> corunners;
      for (int i = 0; i < config.corunners; ++i) {
        StressOptions stress;
        stress.kind = parse_stress_kind(config.kind);
        stress.intensity = config.intensity;
        stress.seconds = kCorunnerSeconds;
        stress.cores = {config.placement == "same" ? o.probe_core : other_core};
        corunners.push_back(std::make_unique<StressProcess>(
            o.stress_program, stress, reports / ("corunner-" + std::to_string(i) + ".txt")));
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_s));
      LoadFeatures load = sample_load(sample_options);
      std::vector<ProbeTiming> timings;
      for (auto& probe : probes) timings.push_back(time_probe(*probe, corunners));
      double corunner_gflops = 0;
      double corunner_gbps = 0;
      double corunner_gl = 0;
      for (auto& corunner : corunners) {
        StressReport report = corunner->stop();
        corunner_gflops += report.gflops;
        corunner_gbps += report.gbps;
        corunner_gl += report.gflops * memory_util_percent(report.gbps, peak_gbps);
      }

      for (std::size_t p = 0; p < probes.size(); ++p) {
        const Probe& probe = *probes[p];
        InterferenceRecord r;
        r.probe = probe.name;
        r.model = probe.spec.model;
        r.first_block = static_cast<int>(probe.first);
        r.last_block = static_cast<int>(probe.last);
        r.batch_size = probe.spec.batch_size;
        r.kind = config.kind;
        r.intensity = config.intensity;
        r.corunners = config.corunners;
        r.placement = config.placement;
        r.repeat = repeat;
        r.probe_features =
            stage_probe_features(probe.blocks, probe.first, probe.last, timings[p].alone_ms);
        r.load = load;
        r.corunner_gflops = corunner_gflops;
        r.corunner_gbps = corunner_gbps;
        r.peak_gbps = peak_gbps;
        r.deinfer_own_gl =
            r.probe_features.gflops * memory_util_percent(r.probe_features.gbps, peak_gbps);
        r.deinfer_corunner_gl = corunner_gl;
        r.colocated_ms = timings[p].colocated_ms;
        r.slowdown = timings[p].colocated_ms / timings[p].alone_ms;
        if (o.on_record) o.on_record(r);
      }
      ++done;
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(reports, ignored);
  if (o.on_progress) o.on_progress(done, total, "done");
}

}  // namespace repipe
