// launch/process_setup.h: per-process settings every command applies first (threads, device).
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

namespace repipe {

// Intra-op threads for this process: `requested`, or cores / ranks on this node when 0
// (mpirun's OMPI_COMM_WORLD_LOCAL_SIZE), at least 1. Sets libtorch's pools and returns it.
int configure_threads(std::int64_t requested);

// "cpu", "cuda", "cuda:N" -> a device; a GPU that is not there is a UsageError naming `where`.
torch::Device parse_device(const std::string& text, const std::string& where);

}  // namespace repipe
