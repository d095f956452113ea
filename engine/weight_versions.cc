#include "engine/weight_versions.h"

#include "common/error.h"

namespace repipe {
namespace {

std::vector<torch::Tensor> parameters_of(const std::vector<BlockPtr>& blocks) {
  std::vector<torch::Tensor> tensors;
  for (const BlockPtr& block : blocks) {
    for (const torch::Tensor& p : block->parameters()) tensors.push_back(p);
  }
  return tensors;
}

std::vector<torch::Tensor> buffers_of(const std::vector<BlockPtr>& blocks) {
  std::vector<torch::Tensor> tensors;
  for (const BlockPtr& block : blocks) {
    for (const torch::Tensor& b : block->buffers()) tensors.push_back(b);
  }
  return tensors;
}

void copy_all(const std::vector<torch::Tensor>& to, const std::vector<torch::Tensor>& from) {
  REPIPE_CHECK(to.size() == from.size(), "weight versions of different shapes");
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
}

}  // namespace

WeightVersions::WeightVersions(std::function<std::vector<BlockPtr>()> make_blocks,
                               torch::Device device)
    : make_blocks_(std::move(make_blocks)), device_(device) {}

int WeightVersions::acquire(const std::vector<BlockPtr>& master, std::int64_t version) {
  int slot = -1;
  for (std::size_t i = 0; i < slots_.size() && slot < 0; ++i) {
    if (slots_[i].version == version) slot = static_cast<int>(i);
  }
  for (std::size_t i = 0; i < slots_.size() && slot < 0; ++i) {
    if (slots_[i].users == 0) slot = static_cast<int>(i);
  }
  if (slot < 0) {
    Slot fresh;
    fresh.blocks = make_blocks_();
    for (const BlockPtr& block : fresh.blocks) block->to(device_);
    slots_.push_back(std::move(fresh));
    slot = static_cast<int>(slots_.size()) - 1;
  }
  Slot& s = slots_[slot];
  if (s.version != version) {
    REPIPE_CHECK(s.users == 0, "loading a weight version in use");
    copy_all(parameters_of(s.blocks), parameters_of(master));
    copy_all(buffers_of(s.blocks), buffers_of(master));
    s.version = version;
  }
  for (std::size_t i = 0; i < s.blocks.size(); ++i) s.blocks[i]->train(master[i]->is_training());
  ++s.users;
  most_ = std::max(most_, live());
  return slot;
}

void WeightVersions::return_buffers(int slot, const std::vector<BlockPtr>& master) const {
  copy_all(buffers_of(master), buffers_of(slots_[slot].blocks));
}

void WeightVersions::release(int slot, const std::vector<BlockPtr>& master) {
  Slot& s = slots_[slot];
  REPIPE_CHECK(s.users > 0, "releasing a weight version nobody holds");
  std::vector<torch::Tensor> mine = parameters_of(s.blocks);
  std::vector<torch::Tensor> theirs = parameters_of(master);
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    torch::Tensor grad = mine[i].grad();
    if (!grad.defined()) continue;
    if (theirs[i].grad().defined()) {
      theirs[i].mutable_grad().add_(grad);
    } else {
      theirs[i].mutable_grad() = grad;
    }
    mine[i].mutable_grad() = torch::Tensor();
  }
  --s.users;
}

int WeightVersions::live() const {
  int count = 0;
  for (const Slot& s : slots_) count += s.users > 0 ? 1 : 0;
  return count;
}

}  // namespace repipe
