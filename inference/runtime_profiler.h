// inference/runtime_profiler.h: `repipe allocate profile`: a model repository entry measured on a
// zoo model: the latency of a batch at each batch size and GPU share (runtime.csv), and DeInfer's
// interference features G and L (model.toml). The allocator itself stays torch-free; this is the
// only part that runs models.
//
// A batch is one forward pass of every block without autograd on the model's synthetic input
// (GPT models: one pass over the sequence, no generation), timed on the device's stopwatch:
// `warmup` untimed runs, then the median of `repeats`.
//
// Shares (ShareMethod):
//   mps      a CUDA device with the MPS daemon running: the process's share is MPS's
//            CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, read when CUDA starts, so each share is measured
//            in a process of its own started with that variable (launch/allocate_command.cc);
//            measure_share_runtimes() measures the share this process runs at.
//   scaled   the default without MPS (and on CPU): the full-share latency is measured and a
//            share s gets latency(100%)·100/s: the model has the device s% of the time (time
//            slicing). It is an upper bound of what MPS gives (MPS also packs small kernels
//            side by side, so small shares often run faster than this), so plans made on it
//            are safe rather than tight.
//   threads  CPU only: share s runs with max(1, round(s/100·T)) intra-op threads, T the
//            full-share thread count: measured, but coarse on few cores (on 2 cores every share
//            below 75% is one thread).
//
// Features, at full share: G = forward GFLOP of a batch (libtorch's operator FLOP formulas, as
// the interference dataset counts them) / its latency; L = 100 · (bytes a batch touches:
// parameters, every block's output, the input) / latency / the device's peak bandwidth (the
// stress generator's memory kind for 0.5 s: on CPU as `repipe profile interference` measures
// it, on a GPU large tensor copies).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "inference/model_repository.h"

namespace repipe {

enum class ShareMethod { kMps, kScaled, kThreads };

// "mps" | "scaled" | "threads"; "auto" picks mps on a CUDA device with the MPS daemon running,
// scaled otherwise. Anything else, mps on a CPU or without the daemon, and threads on a GPU are
// UsageErrors naming --share-method.
ShareMethod choose_share_method(const std::string& text, const std::string& device);
const char* share_method_name(ShareMethod method);

// Whether an MPS control daemon is running: its pipe folder ($CUDA_MPS_PIPE_DIRECTORY, else
// /tmp/nvidia-mps) holds a `control` pipe.
bool mps_daemon_running();
// The MPS share this process was started with (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE), 0 if none.
int mps_share_of_this_process();

struct RuntimeProfileOptions {
  std::string model;
  std::string device = "cpu";
  std::vector<int> batch_sizes = {1, 2, 4, 8, 16};
  std::vector<int> shares = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};  // percent, 100 included
  ShareMethod method = ShareMethod::kScaled;
  int threads = 0;  // CPU intra-op threads at full share; 0: libtorch's default
  int warmup = 3;
  int repeats = 10;
  double slo_ms = 0;  // 0: 4 x the largest batch's full-share latency, rounded up to a whole ms
  std::uint64_t seed = 1;
  std::function<void(const std::string& line)> on_measured;  // one line per measurement
};

// Bad options (unknown model or device, a batch size < 1, a share outside 1..100 or no 100,
// warmup < 0, repeats < 1, threads < 0) are UsageErrors naming the flag.
void check_runtime_profile_options(const RuntimeProfileOptions& options);

// The latency of each batch size at each share that this process can measure: every share for
// scaled and threads, the process's own MPS share for mps. Rows batch-major.
std::vector<RuntimePoint> measure_share_runtimes(const RuntimeProfileOptions& options);

// The config of the entry (name, task, shapes, batch sizes, SLO, features from the full-share
// rows of `runtime`, provenance) for the model.
ModelConfig measure_model_config(const RuntimeProfileOptions& options,
                                 const RuntimeProfile& runtime);

}  // namespace repipe
