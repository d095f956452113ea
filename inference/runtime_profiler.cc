// inference/runtime_profiler.cc: batch latencies per share, FLOPs and bytes of a zoo model, and
// the device's peak bandwidth (see runtime_profiler.h).
#include "inference/runtime_profiler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <torch/torch.h>

#include "common/error.h"
#include "datasets/batch.h"
#include "datasets/synthetic.h"
#include "models/zoo.h"
#include "partitioner/profile.h"
#include "profiler/block_features.h"
#include "profiler/cpu_stress.h"
#include "profiler/gpu_stress.h"
#include "profiler/slice_run.h"

namespace repipe {
namespace {

constexpr int kFullShare = 100;

torch::Device parse_profile_device(const std::string& text) {
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(text);
  } catch (const std::exception&) {
    throw UsageError("flag --device: expected cpu, cuda or cuda:N, got '" + text + "'");
  }
  if (device.is_cuda()) check_cuda_device(text);
  return device;
}

// Sets libtorch's intra-op threads for a scope.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : previous_(torch::get_num_threads()) {
    torch::set_num_threads(threads);
  }
  ~ThreadCount() { torch::set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

Bundle synthetic_inputs(const Model& model, int batch_size, std::uint64_t seed) {
  return synthetic_batch(model.sample, batch_size, seed, DataStream::kTrain, 0).inputs;
}

// The median batch latency of `model` on `input`, after `warmup` untimed runs.
double batch_latency_ms(const Model& model, const Bundle& input, const DeviceStopwatch& clock,
                        int warmup, int repeats) {
  auto run = [&] { run_blocks_before(model, model.blocks.size(), input); };
  for (int w = 0; w < warmup; ++w) run();
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) times.push_back(clock.time_ms(run));
  return median_of(times);
}

std::string task_name(const SampleSpec& spec) {
  switch (spec.task) {
    case TaskKind::kClassification:
      return spec.input_shape.size() == 3 ? "image classification" : "classification";
    case TaskKind::kMaskedLM:
      return "masked language model";
    case TaskKind::kCausalLM:
      return "causal language model (one forward pass)";
  }
  return "unknown";
}

// The device's streaming bandwidth, GB/s, as the stress generator measures it.
double peak_gbps(const std::string& device, int threads) {
  StressOptions o;
  o.device = device == "cpu" ? "cpu" : device;
  o.kind = StressKind::kMemory;
  o.seconds = 0.5;
  o.threads = device == "cpu" ? threads : 1;
  const StressReport report = device == "cpu" ? run_cpu_stress(o) : run_gpu_stress(o);
  return report.gbps;
}

std::string join(const std::vector<int>& values) {
  std::string text;
  for (int v : values) text += (text.empty() ? "" : ",") + std::to_string(v);
  return text;
}

}  // namespace

ShareMethod choose_share_method(const std::string& text, const std::string& device) {
  const bool cuda = device.rfind("cuda", 0) == 0;
  if (text == "auto")
    return cuda && mps_daemon_running() ? ShareMethod::kMps : ShareMethod::kScaled;
  if (text == "scaled") return ShareMethod::kScaled;
  if (text == "threads") {
    if (cuda) throw UsageError("flag --share-method: threads emulates shares on a CPU only");
    return ShareMethod::kThreads;
  }
  if (text == "mps") {
    if (!cuda) throw UsageError("flag --share-method: mps needs a CUDA device (--device cuda)");
    if (!mps_daemon_running() && mps_share_of_this_process() == 0) {
      throw UsageError(
          "flag --share-method: mps, but no MPS daemon is running (start one with "
          "nvidia-cuda-mps-control -d, or use scaled)");
    }
    return ShareMethod::kMps;
  }
  throw UsageError("flag --share-method: expected auto, mps, scaled or threads, got '" + text +
                   "'");
}

const char* share_method_name(ShareMethod method) {
  switch (method) {
    case ShareMethod::kMps:
      return "mps";
    case ShareMethod::kScaled:
      return "scaled";
    case ShareMethod::kThreads:
      return "threads";
  }
  return "unknown";
}

bool mps_daemon_running() {
  const char* pipes = std::getenv("CUDA_MPS_PIPE_DIRECTORY");
  const std::filesystem::path folder = pipes && *pipes ? pipes : "/tmp/nvidia-mps";
  std::error_code error;
  return std::filesystem::exists(folder / "control", error);
}

int mps_share_of_this_process() {
  const char* text = std::getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
  if (!text || !*text) return 0;
  char* end = nullptr;
  const double share = std::strtod(text, &end);
  if (*end != '\0' || !(share > 0 && share <= kFullShare)) return 0;
  return static_cast<int>(std::lround(share));
}

void check_runtime_profile_options(const RuntimeProfileOptions& o) {
  if (o.batch_sizes.empty()) throw UsageError("flag --batch-sizes: expected at least one");
  for (std::size_t i = 0; i < o.batch_sizes.size(); ++i) {
    if (o.batch_sizes[i] < 1 || (i > 0 && o.batch_sizes[i] <= o.batch_sizes[i - 1])) {
      throw UsageError("flag --batch-sizes: expected increasing batch sizes >= 1, got " +
                       join(o.batch_sizes));
    }
  }
  for (std::size_t i = 0; i < o.shares.size(); ++i) {
    if (o.shares[i] < 1 || o.shares[i] > kFullShare || (i > 0 && o.shares[i] <= o.shares[i - 1])) {
      throw UsageError("flag --shares: expected increasing shares in percent, 1..100, got " +
                       join(o.shares));
    }
  }
  if (o.shares.empty() || o.shares.back() != kFullShare) {
    throw UsageError(
        "flag --shares: expected 100 among them (the full-share latency is the "
        "profile's reference), got " +
        join(o.shares));
  }
  if (o.warmup < 0) throw UsageError("flag --warmup: expected an integer >= 0");
  if (o.repeats < 1) throw UsageError("flag --repeats: expected an integer >= 1");
  if (o.threads < 0) throw UsageError("flag --threads: expected an integer >= 0 (0: default)");
  if (o.slo_ms < 0 || !std::isfinite(o.slo_ms)) {
    throw UsageError("flag --slo-ms: expected an SLO in ms > 0 (or 0: derived)");
  }
}

std::vector<RuntimePoint> measure_share_runtimes(const RuntimeProfileOptions& o) {
  check_runtime_profile_options(o);
  const torch::Device device = parse_profile_device(o.device);
  int mps_share = 0;
  if (o.method == ShareMethod::kMps) {
    mps_share = mps_share_of_this_process();
    if (mps_share == 0 ||
        std::find(o.shares.begin(), o.shares.end(), mps_share) == o.shares.end()) {
      throw UsageError(
          "flag --share-method mps: this process measures the share it was started "
          "with (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE), one of --shares");
    }
  }
  ModelOptions model_options;
  model_options.seed = o.seed;
  Model model = build_model(o.model, model_options);
  model.to(device);
  model.train(false);
  torch::NoGradGuard no_grad;
  const DeviceStopwatch clock(device);
  const int full_threads = o.threads > 0 ? o.threads : torch::get_num_threads();

  // One latency per (batch size, thread count), measured once.
  std::map<std::pair<int, int>, double> measured;
  auto latency = [&](int b, int threads, int share) {
    auto it = measured.find({b, threads});
    if (it != measured.end()) return it->second;
    const ThreadCount scope(threads);
    const Bundle input = bundle_to(synthetic_inputs(model, b, o.seed), device);
    const double ms = batch_latency_ms(model, input, clock, o.warmup, o.repeats);
    measured[{b, threads}] = ms;
    if (o.on_measured) {
      char line[160];
      std::snprintf(line, sizeof line, "%s batch %d at %d%% (%d thread%s): %.3f ms",
                    o.model.c_str(), b, share, threads, threads == 1 ? "" : "s", ms);
      o.on_measured(line);
    }
    return ms;
  };

  std::vector<RuntimePoint> points;
  for (int b : o.batch_sizes) {
    switch (o.method) {
      case ShareMethod::kScaled: {
        const double full = latency(b, full_threads, kFullShare);
        for (int s : o.shares) points.push_back({b, s, full * kFullShare / s});
        break;
      }
      case ShareMethod::kThreads:
        // From the largest share down: the full-share time is measured first.
        for (auto s = o.shares.rbegin(); s != o.shares.rend(); ++s) {
          const int threads = std::max(1, static_cast<int>(std::lround(*s / 100.0 * full_threads)));
          points.push_back({b, *s, latency(b, threads, *s)});
        }
        break;
      case ShareMethod::kMps:
        points.push_back({b, mps_share, latency(b, full_threads, mps_share)});
        break;
    }
  }
  std::sort(points.begin(), points.end(), [](const RuntimePoint& x, const RuntimePoint& y) {
    return x.batch_size != y.batch_size ? x.batch_size < y.batch_size : x.share < y.share;
  });
  return points;
}

ModelConfig measure_model_config(const RuntimeProfileOptions& o, const RuntimeProfile& runtime) {
  check_runtime_profile_options(o);
  ModelOptions model_options;
  model_options.seed = o.seed;
  Model model = build_model(o.model, model_options);  // on the CPU: FLOPs and bytes only
  model.train(false);
  torch::NoGradGuard no_grad;
  const int threads = o.threads > 0 ? o.threads : torch::get_num_threads();

  ModelConfig config;
  config.name = o.model;
  config.task = task_name(model.sample);
  config.batch_sizes = o.batch_sizes;
  if (model.sample.task == TaskKind::kClassification) {
    config.input_shape = model.sample.input_shape;
  } else {
    config.input_shape = {model.sample.seq_len};
  }
  double param_bytes = 0;
  for (const BlockPtr& block : model.blocks) {
    param_bytes += static_cast<double>(block_parameter_bytes(*block));
  }
  const double peak = peak_gbps(o.device, threads);
  // FLOPs come from the block-features counter, which wants a profile of the model for bytes it
  // does not need here: an empty row per block. It counts forward and backward (3x forward).
  Profile rows;
  rows.blocks.resize(model.blocks.size());
  for (int b : o.batch_sizes) {
    double gflop = 0;
    for (const BlockFeatures& f : measure_block_features(model, rows, b, o.seed)) {
      gflop += f.flops / 3 / 1e9;
    }
    Bundle bundle = synthetic_inputs(model, b, o.seed);
    double bytes = param_bytes + static_cast<double>(bundle_bytes(bundle));
    for (const BlockPtr& block : model.blocks) {
      bundle = block->forward(bundle);
      bytes += static_cast<double>(bundle_bytes(bundle));
    }
    if (config.output_shape.empty()) {
      // The output a request gets: the bundle's logits (the first such), without the batch.
      auto it = std::find_if(bundle.begin(), bundle.end(), [](const auto& entry) {
        return entry.first.size() >= 6 && entry.first.substr(entry.first.size() - 6) == "logits";
      });
      if (it == bundle.end()) it = bundle.begin();
      const auto sizes = it->second.sizes();
      config.output_shape.assign(sizes.begin() + 1, sizes.end());
    }
    const double seconds = runtime.latency_ms(b, kFullShare) / 1e3;
    config.features.push_back(
        {b, gflop / seconds, peak > 0 ? 100 * bytes / 1e9 / seconds / peak : 0});
  }
  if (o.slo_ms > 0) {
    config.slo_ms = o.slo_ms;
  } else {
    config.slo_ms =
        std::max(1.0, std::ceil(4 * runtime.latency_ms(o.batch_sizes.back(), kFullShare)));
  }
  char note[256];
  std::snprintf(note, sizeof note,
                "%s; %d thread%s at full share; median of %d runs after %d warm-up; peak "
                "bandwidth %.2f GB/s",
                o.method == ShareMethod::kScaled
                    ? "latency at share s = latency at 100% x 100 / s (time slicing)"
                : o.method == ShareMethod::kThreads
                    ? "share s run with round(s/100 x threads) intra-op threads"
                    : "each share measured under CUDA_MPS_ACTIVE_THREAD_PERCENTAGE",
                threads, threads == 1 ? "" : "s", o.repeats, o.warmup, peak);
  config.provenance = ProfileProvenance{o.device, share_method_name(o.method), note};
  return config;
}

}  // namespace repipe
