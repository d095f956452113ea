// datasets/epoch_order.cc: seeded permutations per epoch, cached for the epochs in use.
#include "datasets/epoch_order.h"

#include <utility>

#include "common/error.h"
#include "common/seed.h"

namespace repipe {
namespace {

constexpr std::size_t kCachedEpochs = 3;  // readers a few steps apart may straddle an epoch

}  // namespace

std::vector<std::int64_t> seeded_permutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::uint64_t state = seed;
  for (std::int64_t i = n - 1; i > 0; --i) {
    state = mix_seed(state, static_cast<std::uint64_t>(i));
    const std::int64_t j = scale_below(state, i + 1);
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

EpochOrder::EpochOrder(std::int64_t records, std::uint64_t seed, std::vector<std::int64_t> groups)
    : records_(records), seed_(seed), groups_(std::move(groups)) {
  REPIPE_CHECK(records > 0, "an epoch order over no records");
  std::int64_t sum = 0;
  for (std::int64_t g : groups_) sum += g;
  REPIPE_CHECK(groups_.empty() || sum == records,
               "groups of " << sum << " records, not " << records);
}

std::vector<std::int64_t> EpochOrder::epoch_order(std::int64_t epoch) const {
  const std::uint64_t seed = mix_seed(seed_, static_cast<std::uint64_t>(epoch));
  if (groups_.size() <= 1) return seeded_permutation(records_, seed);
  std::vector<std::int64_t> first(groups_.size(), 0);
  for (std::size_t g = 1; g < groups_.size(); ++g) first[g] = first[g - 1] + groups_[g - 1];
  std::vector<std::int64_t> order;
  order.reserve(static_cast<std::size_t>(records_));
  for (std::int64_t g : seeded_permutation(static_cast<std::int64_t>(groups_.size()), seed)) {
    const auto group = static_cast<std::size_t>(g);
    for (std::int64_t r : seeded_permutation(groups_[group], mix_seed(seed, group + 1))) {
      order.push_back(first[group] + r);
    }
  }
  return order;
}

const std::vector<std::int64_t>& EpochOrder::order_of(std::int64_t epoch) const {
  auto it = orders_.find(epoch);
  if (it != orders_.end()) return it->second;
  if (orders_.size() >= kCachedEpochs) orders_.erase(orders_.begin());
  return orders_[epoch] = epoch_order(epoch);
}

std::int64_t EpochOrder::record_at(std::int64_t position) const {
  return records_at(position, 1)[0];
}

std::vector<std::int64_t> EpochOrder::records_at(std::int64_t first, std::int64_t count) const {
  REPIPE_CHECK(first >= 0 && count >= 0, "positions " << first << " + " << count);
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(count));
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::int64_t k = first; k < first + count; ++k) {
    out.push_back(order_of(k / records_)[static_cast<std::size_t>(k % records_)]);
  }
  return out;
}

}  // namespace repipe
