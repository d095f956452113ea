// Tests of the sample order and the loader: every epoch a seeded permutation, any range of
// samples the same however it is read, steps identical with and without background readers,
// data-parallel shards that tile a step, the half a stage needs, resuming mid-run, a reader's
// error surfacing at its step, and the bounded read-ahead.
#include "datasets/loader.h"

#include <atomic>
#include <chrono>
#include <numeric>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"
#include "datasets/epoch_order.h"
#include "datasets/synthetic.h"

namespace repipe {
namespace {

SampleSpec small_images() {
  SampleSpec spec;
  spec.task = TaskKind::kClassification;
  spec.input_shape = {2, 4, 4};
  spec.num_classes = 5;
  return spec;
}

void expect_same(const Bundle& a, const Bundle& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(torch::equal(tensor, b.at(name))) << name;
  }
}

TEST(EpochOrder, EveryEpochIsAFreshPermutationDrawnFromTheSeed) {
  for (std::int64_t n : {1, 2, 7, 50}) {
    std::vector<std::int64_t> order = seeded_permutation(n, 3);
    std::vector<std::int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::int64_t> all(static_cast<std::size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(sorted, all) << n;
  }
  const EpochOrder a(50, 9), b(50, 9), c(50, 10);
  const std::vector<std::int64_t> first = a.records_at(0, 50), second = a.records_at(50, 50);
  EXPECT_EQ(std::set<std::int64_t>(second.begin(), second.end()).size(), 50u);
  EXPECT_NE(first, second) << "each epoch its own order";
  EXPECT_EQ(first, b.records_at(0, 50)) << "the same seed, the same order";
  EXPECT_NE(first, c.records_at(0, 50));
  // Positions straddling an epoch read the end of one order and the start of the next.
  const std::vector<std::int64_t> straddle = a.records_at(45, 10);
  EXPECT_EQ(std::vector<std::int64_t>(straddle.begin(), straddle.begin() + 5),
            std::vector<std::int64_t>(first.begin() + 45, first.end()));
  EXPECT_EQ(std::vector<std::int64_t>(straddle.begin() + 5, straddle.end()),
            std::vector<std::int64_t>(second.begin(), second.begin() + 5));
}

TEST(EpochOrder, ShardedDatasetsAreVisitedAShardAtATime) {
  // Three shards of 4, 6 and 5 records: each epoch runs through the shards in some order, each
  // shard's records consecutively and in some order.
  const EpochOrder order(15, 2, {4, 6, 5});
  for (std::int64_t epoch = 0; epoch < 3; ++epoch) {
    const std::vector<std::int64_t> records = order.records_at(epoch * 15, 15);
    EXPECT_EQ(std::set<std::int64_t>(records.begin(), records.end()).size(), 15u);
    auto shard_of = [](std::int64_t r) { return r < 4 ? 0 : r < 10 ? 1 : 2; };
    int changes = 0;
    for (std::size_t i = 1; i < records.size(); ++i) {
      changes += shard_of(records[i]) != shard_of(records[i - 1]) ? 1 : 0;
    }
    EXPECT_EQ(changes, 2) << "epoch " << epoch;
  }
  EXPECT_NE(order.records_at(0, 15), order.records_at(15, 15));
}

TEST(SyntheticDataset, AnyRangeOfSamplesIsTheSameHoweverItIsRead) {
  for (const SampleSpec& spec :
       {small_images(), SampleSpec{TaskKind::kCausalLM, {}, 0, 200, 6, 0}}) {
    const SyntheticDataset data(spec, 4);
    const Batch whole = data.read(DataStream::kTrain, 0, 40, BatchPart::kBoth);
    const Batch part = data.read(DataStream::kTrain, 13, 22, BatchPart::kBoth);
    for (const auto& [name, tensor] : whole.inputs) {
      EXPECT_TRUE(torch::equal(tensor.narrow(0, 13, 22), part.inputs.at(name))) << name;
    }
    for (const auto& [name, tensor] : whole.targets) {
      EXPECT_TRUE(torch::equal(tensor.narrow(0, 13, 22), part.targets.at(name))) << name;
    }
    EXPECT_FALSE(torch::equal(whole.inputs.begin()->second.narrow(0, 0, 8),
                              whole.inputs.begin()->second.narrow(0, 16, 8)));
  }
}

TEST(DataLoader, BackgroundReadersHandOutTheStepsOfADirectRead) {
  const SyntheticDataset data(small_images(), 5);
  LoaderOptions options;
  options.batch_size = 12;
  options.microbatches = 3;
  options.readers = 3;
  options.prefetch = 2;
  DataLoader loader(data, options);
  for (std::int64_t step = 1; step <= 8; ++step) {
    const LoadedStep got = loader.next();
    const LoadedStep want = DataLoader::read_step(data, options, step);
    ASSERT_EQ(got.step, step);
    ASSERT_EQ(got.microbatches.size(), 3u);
    for (std::int64_t j = 0; j < 3; ++j) {
      expect_same(got.microbatches.at(j).inputs, want.microbatches.at(j).inputs);
      expect_same(got.microbatches.at(j).targets, want.microbatches.at(j).targets);
    }
    // Micro-batch j of step s is samples (s - 1) * 12 + 4 j onwards of the stream.
    expect_same(got.microbatches.at(2).inputs,
                data.read(DataStream::kTrain, (step - 1) * 12 + 8, 4, BatchPart::kBoth).inputs);
  }
}

TEST(DataLoader, ReplicasReadDisjointShardsThatTileTheStep) {
  const SyntheticDataset data(small_images(), 6);
  LoaderOptions all;
  all.batch_size = 16;
  all.microbatches = 4;
  LoaderOptions even = all, odd = all;
  even.owned = {0, 2};
  odd.owned = {1, 3};
  even.readers = odd.readers = 2;
  DataLoader a(data, even), b(data, odd);
  for (std::int64_t step = 1; step <= 3; ++step) {
    const LoadedStep x = a.next(), y = b.next();
    const LoadedStep whole = DataLoader::read_step(data, all, step);
    EXPECT_EQ(x.microbatches.size(), 2u);
    EXPECT_EQ(y.microbatches.size(), 2u);
    for (std::int64_t j = 0; j < 4; ++j) {
      const LoadedStep& shard = j % 2 == 0 ? x : y;
      ASSERT_TRUE(shard.microbatches.count(j));
      EXPECT_FALSE((j % 2 == 0 ? y : x).microbatches.count(j));
      expect_same(shard.microbatches.at(j).inputs, whole.microbatches.at(j).inputs);
    }
  }
}

// A dataset of stored records that counts its reads and fails on one sample.
class CountingDataset : public Dataset {
 public:
  Batch read(DataStream, std::int64_t first, std::int64_t count, BatchPart part) const override {
    ++reads;
    if (first <= fail_at && fail_at < first + count)
      throw UsageError("sample " + std::to_string(fail_at) + " is corrupt");
    Batch batch;
    torch::Tensor ids = torch::arange(first, first + count, torch::kInt64);
    if (wants_inputs(part)) batch.inputs["x"] = ids.to(torch::kFloat32);
    if (wants_targets(part)) batch.targets["labels"] = ids;
    return batch;
  }
  mutable std::atomic<int> reads{0};
  std::int64_t fail_at = -1;
};

TEST(DataLoader, AStageReadsOnlyItsHalfAndAResumedRunStartsAtItsStep) {
  const CountingDataset data;
  LoaderOptions first;
  first.batch_size = 4;
  first.part = BatchPart::kInputs;
  first.first_step = 5;
  first.readers = 1;
  DataLoader inputs(data, first);
  const LoadedStep step5 = inputs.next();
  EXPECT_EQ(step5.step, 5);
  EXPECT_TRUE(step5.microbatches.at(0).targets.empty());
  EXPECT_EQ(step5.microbatches.at(0).inputs.at("x")[0].item<float>(), 16.0f);
  LoaderOptions last = first;
  last.part = BatchPart::kTargets;
  DataLoader targets(data, last);
  const LoadedStep labels = targets.next();
  EXPECT_TRUE(labels.microbatches.at(0).inputs.empty());
  EXPECT_TRUE(torch::equal(labels.microbatches.at(0).targets.at("labels"),
                           torch::arange(16, 20, torch::kInt64)));
}

TEST(DataLoader, AReadersErrorSurfacesAtItsStepAfterTheStepsBefore) {
  CountingDataset data;
  data.fail_at = 9;  // in step 3 of batches of 4
  LoaderOptions options;
  options.batch_size = 4;
  options.readers = 2;
  DataLoader loader(data, options);
  EXPECT_EQ(loader.next().step, 1);
  EXPECT_EQ(loader.next().step, 2);
  try {
    loader.next();
    FAIL() << "step 3 reads a corrupt sample";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 9 is corrupt"), std::string::npos) << e.what();
  }
}

TEST(DataLoader, ReadersStayWithinThePrefetchBound) {
  const CountingDataset data;
  LoaderOptions options;
  options.batch_size = 2;
  options.readers = 3;
  options.prefetch = 2;
  DataLoader loader(data, options);
  auto wait_for_reads = [&](int n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (data.reads < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  wait_for_reads(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(data.reads, 2) << "two steps ahead of a consumer that took none";
  loader.next();
  wait_for_reads(3);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(data.reads, 3);
}

}  // namespace
}  // namespace repipe
