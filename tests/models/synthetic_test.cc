// Tests of the synthetic data: batches are pure functions of (seed, stream, index), have the
// shapes SampleSpec promises, and keep the task's invariants (masking, next-token labels).
#include "datasets/synthetic.h"

#include <gtest/gtest.h>

namespace repipe {
namespace {

constexpr std::int64_t kN = 4;
constexpr std::int64_t kMaskToken = 103;

const SampleSpec kClassify{TaskKind::kClassification, {3, 8, 8}, 10};
const SampleSpec kBert{TaskKind::kMaskedLM, {}, 0, 30522, 32, 5};
const SampleSpec kGpt{TaskKind::kCausalLM, {}, 0, 50257, 16, 0};

bool same(const Bundle& a, const Bundle& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, tensor] : a) {
    if (!b.count(key) || !torch::equal(tensor, b.at(key))) return false;
  }
  return true;
}

void expect_in_range(const torch::Tensor& t, std::int64_t low, std::int64_t high) {
  EXPECT_EQ(t.scalar_type(), torch::kLong);
  EXPECT_GE(t.min().item<std::int64_t>(), low);
  EXPECT_LT(t.max().item<std::int64_t>(), high);
}

TEST(Synthetic, Deterministic) {
  for (const SampleSpec& spec : {kClassify, kBert, kGpt}) {
    Batch a = synthetic_batch(spec, kN, 11, DataStream::kTrain, 3);
    Batch b = synthetic_batch(spec, kN, 11, DataStream::kTrain, 3);
    EXPECT_TRUE(same(a.inputs, b.inputs));
    EXPECT_TRUE(same(a.targets, b.targets));
    Batch next = synthetic_batch(spec, kN, 11, DataStream::kTrain, 4);
    EXPECT_FALSE(same(a.inputs, next.inputs));
    Batch held_out = synthetic_batch(spec, kN, 11, DataStream::kHeldOut, 3);
    EXPECT_FALSE(same(a.inputs, held_out.inputs));
    Batch other_seed = synthetic_batch(spec, kN, 12, DataStream::kTrain, 3);
    EXPECT_FALSE(same(a.inputs, other_seed.inputs));
  }
}

TEST(Synthetic, Classification) {
  Batch batch = synthetic_batch(kClassify, kN, 1, DataStream::kTrain, 0);
  ASSERT_TRUE(batch.inputs.count("x") && batch.targets.count("labels"));
  EXPECT_EQ(batch.inputs.at("x").sizes(), torch::IntArrayRef({kN, 3, 8, 8}));
  EXPECT_EQ(batch.inputs.at("x").scalar_type(), torch::kFloat);
  EXPECT_EQ(batch.targets.at("labels").sizes(), torch::IntArrayRef({kN}));
  expect_in_range(batch.targets.at("labels"), 0, kClassify.num_classes);
}

TEST(Synthetic, MaskedLM) {
  Batch batch = synthetic_batch(kBert, kN, 1, DataStream::kTrain, 0);
  std::int64_t l = kBert.seq_len, p = kBert.max_predictions;
  for (const char* key : {"input_ids", "token_type_ids", "attention_mask"}) {
    ASSERT_TRUE(batch.inputs.count(key)) << key;
    EXPECT_EQ(batch.inputs.at(key).sizes(), torch::IntArrayRef({kN, l})) << key;
  }
  const torch::Tensor& ids = batch.inputs.at("input_ids");
  const torch::Tensor& positions = batch.inputs.at("mlm_positions");
  EXPECT_EQ(positions.sizes(), torch::IntArrayRef({kN, p}));
  expect_in_range(ids, 0, kBert.vocab_size);
  expect_in_range(positions, 1, l);
  expect_in_range(batch.inputs.at("token_type_ids"), 0, 2);
  // Distinct and sorted: strictly increasing along each row.
  torch::Tensor steps = positions.narrow(1, 1, p - 1) - positions.narrow(1, 0, p - 1);
  EXPECT_TRUE((steps > 0).all().item<bool>());
  EXPECT_TRUE(ids.gather(1, positions).eq(kMaskToken).all().item<bool>());

  ASSERT_TRUE(batch.targets.count("mlm_ids") && batch.targets.count("nsp_labels"));
  EXPECT_EQ(batch.targets.at("mlm_ids").sizes(), torch::IntArrayRef({kN, p}));
  expect_in_range(batch.targets.at("mlm_ids"), 0, kBert.vocab_size);
  EXPECT_EQ(batch.targets.at("nsp_labels").sizes(), torch::IntArrayRef({kN}));
  expect_in_range(batch.targets.at("nsp_labels"), 0, 2);
}

TEST(Synthetic, CausalLM) {
  Batch batch = synthetic_batch(kGpt, kN, 1, DataStream::kTrain, 0);
  std::int64_t l = kGpt.seq_len;
  const torch::Tensor& ids = batch.inputs.at("input_ids");
  const torch::Tensor& labels = batch.targets.at("labels");
  EXPECT_EQ(ids.sizes(), torch::IntArrayRef({kN, l}));
  EXPECT_EQ(labels.sizes(), torch::IntArrayRef({kN, l}));
  expect_in_range(ids, 0, kGpt.vocab_size);
  expect_in_range(labels, 0, kGpt.vocab_size);
  EXPECT_TRUE(torch::equal(labels.narrow(1, 0, l - 1), ids.narrow(1, 1, l - 1)));
}

}  // namespace
}  // namespace repipe
