#include <ATen/CPUGeneratorImpl.h>

#include "common/seed.h"
#include "models/zoo_builders.h"

namespace repipe::zoo {

torch::Tensor tied_weight_init(const std::string& owner, torch::IntArrayRef shape,
                               std::uint64_t seed, double stddev) {
  constexpr std::uint64_t kTiedStream = 0x71ed;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
      mix_seed(mix_seed(seed, kTiedStream), hash_name(owner)));
  return torch::randn(shape, gen) * stddev;
}

}  // namespace repipe::zoo
