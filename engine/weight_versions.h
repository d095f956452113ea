// engine/weight_versions.h: the weight versions of 1F1B with weight stashing (PipeDream).
//
// Without a flush, a stage runs forwards of the next step before the backwards of the current
// one, and the optimizer updates its weights in between. Each backward must use the weights
// its forward used. PipeDream swapped old weights into the live tensors in place before each
// backward, which breaks autograd's saved tensors (msr-fiddle/pipedream#52). Here every version
// is a separate copy of the stage's blocks: a forward runs on a copy holding the current
// weights, and the copy is never written while a micro-batch that used it is in flight. The
// optimizer updates the master blocks, which no forward touches.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "models/model.h"

namespace repipe {

class WeightVersions {
 public:
  // `make_blocks` builds a fresh copy of the stage's blocks (same classes and names).
  WeightVersions(std::function<std::vector<BlockPtr>()> make_blocks, torch::Device device);

  // A copy holding `master` at version `version` (the number of updates applied), for a
  // forward: the copy already holding it, else a free copy loaded with it. Returns its slot;
  // the slot stays unchanged until every acquire of it is released.
  int acquire(const std::vector<BlockPtr>& master, std::int64_t version);
  const std::vector<BlockPtr>& blocks(int slot) const { return slots_[slot].blocks; }
  std::int64_t version(int slot) const { return slots_[slot].version; }

  // After a forward on `slot`: its buffers (BatchNorm running statistics) go back to master,
  // so the next version continues from them.
  void return_buffers(int slot, const std::vector<BlockPtr>& master) const;

  // After a backward on `slot`: adds its gradients into master's (undefined: taken as they
  // are; else added in place, as autograd accumulates) and releases one use of the slot.
  void release(int slot, const std::vector<BlockPtr>& master);

  // Versions held at once, now and at most so far.
  int live() const;
  int most() const { return most_; }

 private:
  struct Slot {
    std::vector<BlockPtr> blocks;
    std::int64_t version = -1;
    int users = 0;
  };

  std::function<std::vector<BlockPtr>()> make_blocks_;
  torch::Device device_;
  std::vector<Slot> slots_;
  int most_ = 0;
};

}  // namespace repipe
