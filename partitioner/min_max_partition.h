// partitioner/min_max_partition.h: the exact min-max contiguous partition behind the planners.
//
// Splits blocks 0..B-1 into S contiguous non-empty stages minimising
//   max over stages s of max(stage_cost(s, first_s, last_s), entry_cost(s, first_s))
// (entry_cost: the price of a cut before block first_s, e.g. its link; s >= 1 only), subject to
// fits(s, first, last). stage_cost and fits must be monotone in the range: a stage holding more
// blocks never costs less and never fits where a smaller one does not.
//
// Why it is fast: for a fixed stage s and last block b, a start a is worth
//   max(h(a), stage_cost(s, a, b)),  h(a) = max(best of stages < s ending at a-1, entry_cost).
// A start a is dominated by any later start a' with h(a') <= h(a) (its stage is smaller, so it
// costs no more and fits whenever a's does), for this b and every later one. The undominated
// starts form a stack with h increasing in a, while stage_cost falls as a grows, so the best is
// at their crossing, found by binary search. Each (s, b) costs O(log B) stage_cost calls: the
// whole table O(S x B x log B), against O(S x B^2) for the textbook recurrence.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

namespace repipe {

template <typename Value>
constexpr Value min_max_infinity() {
  if constexpr (std::numeric_limits<Value>::has_infinity) {
    return std::numeric_limits<Value>::infinity();
  } else {
    return std::numeric_limits<Value>::max();
  }
}

// The undominated stage starts for one stage and a growing last block b (see above). Push the
// starts in increasing order as b grows, drop those that no longer fit, then ask for the best.
template <typename Value>
class StartCandidates {
 public:
  static constexpr Value kInfinity = min_max_infinity<Value>();

  void clear() {
    stack_.clear();
    head_ = 0;
  }
  // Start `start` is possible with h(start) = before (the bottleneck up to the cut before it).
  void push(std::int64_t start, Value before) {
    while (stack_.size() > head_ && stack_.back().before >= before) stack_.pop_back();
    stack_.push_back({start, before});
  }
  // Forgets the starts below `lowest_start` (their stage no longer fits).
  void drop_below(std::int64_t lowest_start) {
    while (head_ < stack_.size() && stack_[head_].start < lowest_start) ++head_;
  }
  // min over kept starts a of max(h(a), stage_cost(a)), stage_cost non-increasing in a; returns
  // (infinity, -1) if none is kept. O(log n) calls of stage_cost.
  template <typename StageCost>
  std::pair<Value, std::int64_t> best(StageCost stage_cost) const {
    // First candidate whose h reaches its stage cost; before it the stage cost dominates.
    std::size_t lo = head_, hi = stack_.size();
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (stack_[mid].before >= stage_cost(stack_[mid].start)) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    std::pair<Value, std::int64_t> result{kInfinity, -1};
    if (lo < stack_.size()) result = {stack_[lo].before, stack_[lo].start};
    if (lo > head_) {
      const Value cost = stage_cost(stack_[lo - 1].start);
      if (cost < result.first || result.second < 0) result = {cost, stack_[lo - 1].start};
    }
    return result;
  }

 private:
  struct Candidate {
    std::int64_t start;
    Value before;
  };
  std::vector<Candidate> stack_;  // h strictly increasing with start
  std::size_t head_ = 0;          // stack_[head_..] are kept
};

template <typename Value>
struct MinMaxTable {
  // value[s][b]: the least bottleneck of stages 0..s holding blocks 0..b (infinity if none);
  // start[s][b]: the first block of stage s in that split (-1 if none).
  std::vector<std::vector<Value>> value;
  std::vector<std::vector<std::int64_t>> start;
};

template <typename Value, typename StageCost, typename EntryCost, typename Fits>
MinMaxTable<Value> min_max_partition(int stages, std::int64_t blocks, StageCost stage_cost,
                                     EntryCost entry_cost, Fits fits) {
  constexpr Value kInfinity = min_max_infinity<Value>();
  MinMaxTable<Value> table;
  table.value.assign(stages, std::vector<Value>(blocks, kInfinity));
  table.start.assign(stages, std::vector<std::int64_t>(blocks, -1));
  StartCandidates<Value> candidates;
  for (int s = 0; s < stages; ++s) {
    const std::int64_t last_end = blocks - stages + s;  // leave a block to each later stage
    if (s == 0) {
      for (std::int64_t b = 0; b <= last_end && fits(0, 0, b); ++b) {
        table.value[0][b] = stage_cost(0, 0, b);
        table.start[0][b] = 0;
      }
      continue;
    }
    candidates.clear();
    std::int64_t lowest_start = s;  // smallest start a with fits(s, a, b)
    for (std::int64_t b = s; b <= last_end; ++b) {
      const Value previous = table.value[s - 1][b - 1];
      if (previous != kInfinity) {  // start a = b becomes possible
        candidates.push(b, std::max(previous, static_cast<Value>(entry_cost(s, b))));
      }
      while (lowest_start <= b && !fits(s, lowest_start, b)) ++lowest_start;
      candidates.drop_below(lowest_start);
      std::tie(table.value[s][b], table.start[s][b]) =
          candidates.best([&](std::int64_t start) { return stage_cost(s, start, b); });
    }
  }
  return table;
}

}  // namespace repipe
