// datasets/epoch_order.h: which stored record each position of a training stream reads.
//
// Position k reads record order_e[k mod N] of epoch e = k / N, where order_e is a permutation
// of the N records drawn from (seed, e): every record once per epoch, a fresh order each
// epoch, the same order on every rank and every run. With groups (the records of each file of
// a sharded dataset, in order), order_e visits the groups in a seeded order and each group's
// records in a seeded order, so readers stay within a shard at a time. The permutation is a
// Fisher-Yates shuffle over a splitmix64 stream, written out here so it is the same on every
// platform and library.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace repipe {

class EpochOrder {
 public:
  // `groups`: the sizes of consecutive runs of records, summing to `records`; empty: one.
  EpochOrder(std::int64_t records, std::uint64_t seed, std::vector<std::int64_t> groups = {});

  // The record that position `position` (>= 0) reads. Thread-safe.
  std::int64_t record_at(std::int64_t position) const;
  // The records of positions first .. first + count - 1.
  std::vector<std::int64_t> records_at(std::int64_t first, std::int64_t count) const;

  std::int64_t records() const { return records_; }

 private:
  const std::vector<std::int64_t>& order_of(std::int64_t epoch) const;  // with mutex_ held

  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;

  std::int64_t records_;
  std::uint64_t seed_;
  std::vector<std::int64_t> groups_;
  mutable std::mutex mutex_;
  mutable std::map<std::int64_t, std::vector<std::int64_t>> orders_;  // the last few epochs
};

// A permutation of 0 .. n - 1 drawn from `seed` (Fisher-Yates over splitmix64).
std::vector<std::int64_t> seeded_permutation(std::int64_t n, std::uint64_t seed);

}  // namespace repipe
