// datasets/shard_cache.h: the last few whole shards read, shared by the loader's readers.
//
// Sharded formats (BERT's HDF5 shards, generic HDF5 files) are read a shard at a time, as
// NVIDIA's loader does: an epoch visits the shards in a seeded order and the records of each
// shard in a seeded order (EpochOrder with groups), so the readers work through a few shards at
// once and a shard is read from storage once per epoch, in one sequential read.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

namespace repipe {

template <typename Shard>
class ShardCache {
 public:
  explicit ShardCache(std::size_t capacity) : capacity_(capacity) {}

  // Shard `key`, read by `load()` when it is not held; the oldest leaves when full.
  std::shared_ptr<const Shard> get(std::size_t key, const std::function<Shard()>& load) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [k, shard] : held_) {
      if (k == key) return shard;
    }
    auto shard = std::make_shared<const Shard>(load());
    held_.emplace_back(key, shard);
    if (held_.size() > capacity_) held_.pop_front();
    return shard;
  }

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  mutable std::deque<std::pair<std::size_t, std::shared_ptr<const Shard>>> held_;
};

}  // namespace repipe
