#include "models/block.h"

#include "common/error.h"
#include "common/seed.h"

namespace repipe {
namespace {
constexpr std::uint64_t kForwardStream = 0xf0'4a4d;
constexpr std::uint64_t kInitStream = 0x1417;
}  // namespace

torch::Tensor Block::need(const Bundle& input, const std::string& key) const {
  auto it = input.find(key);
  REPIPE_CHECK(it != input.end(), block_name_ << " needs '" << key << "' in its input");
  return it->second;
}

void seed_block_forward(const Block& block, std::uint64_t seed, std::int64_t step,
                        std::int64_t microbatch) {
  if (!block.draws_random_numbers()) return;
  std::uint64_t s = mix_seed(mix_seed(seed, kForwardStream), hash_name(block.block_name()));
  s = mix_seed(mix_seed(s, static_cast<std::uint64_t>(step)),
               static_cast<std::uint64_t>(microbatch));
  torch::manual_seed(s);
}

void seed_block_init(const std::string& block_name, std::uint64_t seed) {
  torch::manual_seed(mix_seed(mix_seed(seed, kInitStream), hash_name(block_name)));
}

}  // namespace repipe
