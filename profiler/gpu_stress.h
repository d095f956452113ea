// profiler/gpu_stress.h: the stress generator's GPU side: one host thread keeps a CUDA device
// busy at a duty cycle with large matrix products (compute), large tensor copies (memory) or
// both alternating (mixed). Plain libtorch API only, so it builds against a CPU-only libtorch
// too; there it refuses to run.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "profiler/cpu_stress.h"

namespace repipe {

// Throws UsageError "no CUDA device: ..." unless `device` ("cuda" or "cuda:N") names a GPU that
// libtorch sees; commands call it before announcing a run.
void check_cuda_device(const std::string& device);

// Runs the stress on options.device ("cuda" or "cuda:N") until `seconds` pass or `*stop` turns
// true. Each chunk is one operation followed by a synchronisation (~0.2 ms on an H100), so the
// duty cycle holds at 10 ms periods. options.cores, when given, pins the host thread to the
// first one. Throws UsageError "no CUDA device: ..." when libtorch sees no GPU (or has no CUDA)
// or N is out of range, and for any option validate_stress_options() refuses.
// `started` (if given) is called once the tensors exist and each operation ran once.
StressReport run_gpu_stress(const StressOptions& options, const std::atomic<bool>* stop = nullptr,
                            const std::function<void()>& started = {});

}  // namespace repipe
