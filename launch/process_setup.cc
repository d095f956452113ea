#include "launch/process_setup.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <torch/torch.h>

#include "common/error.h"

namespace repipe {

int configure_threads(std::int64_t requested) {
  int threads = static_cast<int>(requested);
  if (threads <= 0) {
    int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    int local_ranks = 1;
    if (const char* env = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
      local_ranks = std::max(1, std::atoi(env));
    threads = std::max(1, cores / local_ranks);
  }
  torch::set_num_threads(threads);
  static bool interop_set = false;  // libtorch throws if this is set twice
  if (!interop_set) {
    torch::set_num_interop_threads(1);
    interop_set = true;
  }
  return threads;
}

torch::Device parse_device(const std::string& text, const std::string& where) {
  if (text == "cpu") return torch::kCPU;
  int index = 0;
  if (text.rfind("cuda:", 0) == 0) {
    try {
      std::size_t used = 0;
      index = std::stoi(text.substr(5), &used);
      if (used != text.size() - 5 || index < 0) throw std::invalid_argument(text);
    } catch (const std::exception&) {
      throw UsageError(where + ": expected cpu, cuda or cuda:N, got '" + text + "'");
    }
  } else if (text != "cuda") {
    throw UsageError(where + ": expected cpu, cuda or cuda:N, got '" + text + "'");
  }
  if (!torch::cuda::is_available()) {
    throw UsageError(where + ": " + text +
                     " asked for, but no GPU is visible or this libtorch was built without CUDA");
  }
  if (index >= static_cast<int>(torch::cuda::device_count())) {
    throw UsageError(where + ": " + text + " asked for, but only " +
                     std::to_string(torch::cuda::device_count()) + " GPU(s) are visible");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace repipe
