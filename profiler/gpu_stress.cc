// profiler/gpu_stress.cc: torch::mm and copy_ chunks in the shared duty-cycle loop.
#include "profiler/gpu_stress.h"

#include <algorithm>
#include <chrono>
#include <string>

#include <torch/torch.h>

#include "common/cpu_affinity.h"
#include "common/error.h"

namespace repipe {
namespace {

// bf16 4096 x 4096: one product is 2·4096³ = 137 GFLOP, ~0.2 ms on an H100.
constexpr std::int64_t kMatrixSize = 4096;
// 2^26 fp32 = 256 MiB per tensor, far beyond the GPU's L2: one copy streams 512 MiB.
constexpr std::int64_t kCopyElements = std::int64_t{1} << 26;

// "cuda" or "cuda:N" (the syntax is validated before).
int cuda_index(const std::string& device) {
  if (device == "cuda") return 0;
  try {
    return std::stoi(device.substr(5));
  } catch (const std::exception&) {
    throw UsageError("--device: expected cuda:N with a small N, got '" + device + "'");
  }
}

}  // namespace

void check_cuda_device(const std::string& device) {
  if (!torch::cuda::is_available()) {
    throw UsageError("no CUDA device: " + device +
                     " asked for, but no GPU is visible or this libtorch was built without CUDA");
  }
  const auto visible = static_cast<int>(torch::cuda::device_count());
  if (cuda_index(device) >= visible) {
    throw UsageError("no CUDA device: " + device + " asked for, but only " +
                     std::to_string(visible) + " GPU(s) are visible");
  }
}

StressReport run_gpu_stress(const StressOptions& options, const std::atomic<bool>* stop,
                            const std::function<void()>& started) {
  validate_stress_options(options);
  check_cuda_device(options.device);
  const int index = cuda_index(options.device);
  if (!options.cores.empty()) pin_calling_thread(options.cores.front(), "--cores");

  torch::NoGradGuard no_grad;
  torch::manual_seed(options.seed);
  const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  const bool compute = options.kind != StressKind::kMemory;
  const bool memory = options.kind != StressKind::kCompute;
  const bool working = options.intensity > 0;  // intensity 0: nothing allocated, nothing run
  torch::Tensor a, b, product, source, target;
  if (working && compute) {
    const auto bf16 = torch::TensorOptions().device(device).dtype(torch::kBFloat16);
    a = torch::randn({kMatrixSize, kMatrixSize}, bf16);
    b = torch::randn({kMatrixSize, kMatrixSize}, bf16);
    product = torch::empty({kMatrixSize, kMatrixSize}, bf16);
  }
  if (working && memory) {
    const auto fp32 = torch::TensorOptions().device(device).dtype(torch::kFloat32);
    source = torch::rand({kCopyElements}, fp32);
    target = torch::empty({kCopyElements}, fp32);
  }

  const double flops_per_product = 2.0 * kMatrixSize * kMatrixSize * kMatrixSize;
  const double bytes_per_copy = 2.0 * kCopyElements * sizeof(float);  // read + write
  double flops = 0, bytes = 0;
  bool memory_next = options.kind == StressKind::kMemory;
  auto chunk = [&](bool counted) {
    if (memory_next) {
      target.copy_(source);
      if (counted) bytes += bytes_per_copy;
    } else {
      torch::mm_out(product, a, b);
      if (counted) flops += flops_per_product;
    }
    torch::cuda::synchronize(index);
    if (options.kind == StressKind::kMixed) memory_next = !memory_next;
  };
  // The first of each operation pays for cuBLAS handles and kernel loading: not timed.
  if (working) {
    chunk(false);
    if (options.kind == StressKind::kMixed) chunk(false);
  }

  if (started) started();
  const double cpu_start = calling_thread_cpu_seconds();
  const auto start = StressClock::now();
  const auto end = start + std::chrono::duration_cast<StressClock::duration>(
                               std::chrono::duration<double>(options.seconds));
  const double busy =
      run_duty_cycle(options.intensity, options.period_ms, start, end, stop, [&] { chunk(true); });
  const auto finished = StressClock::now();

  StressReport report;
  report.device = options.device;
  report.kind = options.kind;
  report.intensity = options.intensity;
  report.threads = 1;
  report.requested_seconds = options.seconds;
  report.wall_seconds = std::chrono::duration<double>(finished - start).count();
  report.stopped_early = finished < end && stop != nullptr && stop->load();
  const double wall = std::max(report.wall_seconds, 1e-9);
  report.busy_fraction = busy / wall;
  report.cpu_fraction = std::min(1.0, (calling_thread_cpu_seconds() - cpu_start) / wall);
  report.gflops = flops / wall / 1e9;
  report.gbps = bytes / wall / 1e9;
  return report;
}

}  // namespace repipe
