// launch/build_info.h: what this binary was built with, for --version and run.toml.
#pragma once

#include <string>

namespace repipe {

// "repipe 0.1.0 (git 1a2b3c4, libtorch 1.13.1, CUDA runtime 13.0, NCCL 2.28.9)".
std::string version_line();

}  // namespace repipe
