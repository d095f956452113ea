#include "launch/build_info.h"

#include <torch/version.h>

#include "common/version.h"

#ifdef REPIPE_WITH_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace repipe {

std::string version_line() {
  std::string commit = repipe_git_commit();
  std::string line = std::string("repipe ") + repipe_version() + " (git " + commit.substr(0, 12) +
                     ", libtorch " + TORCH_VERSION;
#ifdef REPIPE_WITH_CUDA
  // Both calls work without a GPU or driver: they only report the linked libraries.
  int cuda = 0;
  int nccl = 0;
  if (cudaRuntimeGetVersion(&cuda) == cudaSuccess) {
    line +=
        ", CUDA runtime " + std::to_string(cuda / 1000) + "." + std::to_string(cuda % 1000 / 10);
  }
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    line += ", NCCL " + std::to_string(nccl / 10000) + "." + std::to_string(nccl / 100 % 100) +
            "." + std::to_string(nccl % 100);
  }
#endif
  return line + ")";
}

}  // namespace repipe
