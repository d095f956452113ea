// Tests of the model zoo: exact parameter counts against the reference implementations
// (torchvision, Hugging Face), output shapes and loss of a small forward pass, tied weights,
// block naming and seeded initialisation. Large models are built one at a time, inside one
// test each, so at most one is alive (the test machine has 24 GiB and 2 slow cores).
#include <cmath>
#include <iostream>
#include <set>

#include <gtest/gtest.h>

#include "common/error.h"
#include "datasets/synthetic.h"
#include "models/zoo.h"
#include "models/zoo_builders.h"

namespace repipe {
namespace {

constexpr std::int64_t kBatch = 2;

Model build(const std::string& name, std::int64_t image_size = 0, std::int64_t seq_len = 0,
            std::uint64_t seed = 1) {
  ModelOptions options;
  options.image_size = image_size;
  options.seq_len = seq_len;
  options.seed = seed;
  return build_model(name, options);
}

// Block names are unique and all start with "<model>.".
void expect_block_names(const Model& model) {
  std::set<std::string> names;
  for (const BlockPtr& block : model.blocks) {
    EXPECT_EQ(block->block_name().rfind(model.name + ".", 0), 0u) << block->block_name();
    EXPECT_TRUE(names.insert(block->block_name()).second) << "duplicate " << block->block_name();
  }
  EXPECT_FALSE(model.blocks.empty());
}

std::int64_t count_without(const Model& model, const std::string& excluded) {
  std::int64_t count = 0;
  for (const NamedTensor& p : model.named_parameters()) {
    if (p.name.find(excluded) == std::string::npos) count += p.tensor.numel();
  }
  return count;
}

torch::Tensor parameter(const Model& model, const std::string& name) {
  for (const NamedTensor& p : model.named_parameters()) {
    if (p.name == name) return p.tensor;
  }
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

// Every tie names two real parameters, equal at init.
void expect_ties_equal(const Model& model) {
  ASSERT_FALSE(model.ties.empty());
  for (const TiedParameter& tie : model.ties) {
    torch::Tensor owner = parameter(model, tie.owner);
    torch::Tensor user = parameter(model, tie.user);
    ASSERT_TRUE(owner.defined() && user.defined());
    EXPECT_FALSE(owner.is_same(user)) << "each block holds its own copy";
    EXPECT_TRUE(torch::equal(owner, user)) << tie.owner << " vs " << tie.user;
  }
}

// A batch of 2 through the whole model: output shapes per task and a finite scalar loss.
void expect_forward(const Model& model) {
  torch::NoGradGuard no_grad;
  Batch batch = synthetic_batch(model.sample, kBatch, 7, DataStream::kTrain, 0);
  Bundle out = model.forward(batch.inputs);
  const SampleSpec& s = model.sample;
  switch (s.task) {
    case TaskKind::kClassification:
      ASSERT_TRUE(out.count("logits"));
      EXPECT_EQ(out.at("logits").sizes(), torch::IntArrayRef({kBatch, s.num_classes}));
      break;
    case TaskKind::kMaskedLM:
      ASSERT_TRUE(out.count("mlm_logits") && out.count("nsp_logits"));
      EXPECT_EQ(out.at("mlm_logits").sizes(),
                torch::IntArrayRef({kBatch, s.max_predictions, s.vocab_size}));
      EXPECT_EQ(out.at("nsp_logits").sizes(), torch::IntArrayRef({kBatch, 2}));
      break;
    case TaskKind::kCausalLM:
      ASSERT_TRUE(out.count("logits"));
      EXPECT_EQ(out.at("logits").sizes(), torch::IntArrayRef({kBatch, s.seq_len, s.vocab_size}));
      break;
  }
  torch::Tensor loss = model.loss(out, batch.targets);
  EXPECT_EQ(loss.dim(), 0);
  EXPECT_TRUE(std::isfinite(loss.item<double>())) << model.name;
  auto [correct, total] = model.correct(out, batch.targets);
  EXPECT_GE(correct, 0);
  EXPECT_LE(correct, total);
}

void expect_small_model(const Model& model) {
  expect_block_names(model);
  expect_forward(model);
}

TEST(Zoo, SmallModelsForward) {
  expect_small_model(build("mlp"));
  expect_small_model(build("small_cnn"));
  Model mini = build("resnet-mini");
  EXPECT_EQ(mini.sample.input_shape, (std::vector<std::int64_t>{3, 64, 64}));
  EXPECT_EQ(mini.blocks.size(), 6u);  // stem, 4 bottlenecks, head
  expect_small_model(mini);
}

TEST(Zoo, Vgg16) {
  EXPECT_EQ(build("vgg16", 0).sample.input_shape, (std::vector<std::int64_t>{3, 224, 224}))
      << "default image size";
  Model model = build("vgg16", 32);
  EXPECT_EQ(model.parameter_count(), 138'357'544);
  ASSERT_EQ(model.blocks.size(), 16u);
  EXPECT_EQ(model.blocks.front()->block_name(), "vgg16.conv1_1");
  EXPECT_EQ(model.blocks[12]->block_name(), "vgg16.conv5_3");
  EXPECT_EQ(model.blocks.back()->block_name(), "vgg16.fc8");
  expect_small_model(model);
}

TEST(Zoo, Resnet50) {
  Model model = build("resnet50", 64);
  EXPECT_EQ(model.parameter_count(), 25'557'032);
  ASSERT_EQ(model.blocks.size(), 18u);
  EXPECT_EQ(model.blocks[1]->block_name(), "resnet50.layer1.0");
  EXPECT_EQ(model.blocks[16]->block_name(), "resnet50.layer4.2");
  EXPECT_EQ(model.blocks.back()->block_name(), "resnet50.head");
  EXPECT_EQ(model.named_buffers().size(), 3u * 53);  // running mean, var, batches per BN
  expect_small_model(model);
}

TEST(Zoo, BertTiny) {
  Model model = build("bert-tiny", 0, 32);
  EXPECT_EQ(model.sample.task, TaskKind::kMaskedLM);
  EXPECT_EQ(model.sample.seq_len, 32);
  EXPECT_EQ(model.sample.max_predictions, 5);  // ceil(0.15 * 32)
  ASSERT_EQ(model.blocks.size(), 4u);
  EXPECT_EQ(model.blocks[1]->block_name(), "bert-tiny.layer.0");
  ASSERT_EQ(model.ties.size(), 1u);
  EXPECT_EQ(model.ties[0].owner, "bert-tiny.embeddings.word_embeddings.weight");
  EXPECT_EQ(model.ties[0].user, "bert-tiny.heads.cls.predictions.decoder.weight");
  expect_ties_equal(model);
  expect_small_model(model);
}

TEST(Zoo, BertDefaultsAndLimits) {
  Model model = build("bert-tiny");
  EXPECT_EQ(model.sample.seq_len, 128);
  EXPECT_EQ(model.sample.max_predictions, 20);
  EXPECT_EQ(build("bert-tiny", 0, 512).sample.max_predictions, 77);
  EXPECT_EQ(build("bert-tiny", 0, 20).sample.max_predictions, 3);
  EXPECT_EQ(build("bert-tiny", 0, 2).sample.max_predictions, 1);
  EXPECT_THROW(build("bert-tiny", 0, 513), UsageError);
  EXPECT_THROW(build("bert-base", 0, 513), UsageError);
  EXPECT_THROW(build("bert-tiny", 0, 1), UsageError);
  EXPECT_THROW(build("gpt2", 0, 1025), UsageError);
  EXPECT_THROW(build("gpt2", 0, -1), UsageError);
  EXPECT_THROW(build("no-such-model"), UsageError);

  // The default is 128, or the positions if fewer (checked on small GPT shapes: cheap).
  ModelOptions defaults;
  EXPECT_EQ(zoo::build_gpt2("g", {1, 16, 2, 32, 50, 256}, defaults).sample.seq_len, 128);
  EXPECT_EQ(zoo::build_gpt2("g", {1, 16, 2, 32, 50, 64}, defaults).sample.seq_len, 64);
}

TEST(Zoo, BertBase) {
  Model model = build("bert-base", 0, 32);
  EXPECT_EQ(count_without(model, ".cls."), 109'482'240);  // Hugging Face BertModel
  EXPECT_EQ(model.parameter_count(), 110'106'428);        // BertForPreTraining, decoder tied
  EXPECT_EQ(model.blocks.size(), 14u);
  expect_block_names(model);
  expect_ties_equal(model);
}

TEST(Zoo, BertLarge) {
  Model model = build("bert-large", 0, 32);
  EXPECT_EQ(count_without(model, ".cls."), 335'141'888);
  EXPECT_EQ(model.blocks.size(), 26u);
  expect_block_names(model);
}

TEST(Zoo, Gpt2) {
  Model model = build("gpt2", 0, 16);
  EXPECT_EQ(model.parameter_count(), 124'439'808);
  EXPECT_EQ(model.sample.task, TaskKind::kCausalLM);
  EXPECT_EQ(model.sample.seq_len, 16);
  ASSERT_EQ(model.blocks.size(), 14u);
  EXPECT_EQ(model.blocks[1]->block_name(), "gpt2.h.0");
  EXPECT_EQ(model.blocks.back()->block_name(), "gpt2.head");
  ASSERT_EQ(model.ties.size(), 1u);
  EXPECT_EQ(model.ties[0].owner, "gpt2.embeddings.wte.weight");
  EXPECT_EQ(model.ties[0].user, "gpt2.head.weight");
  expect_ties_equal(model);
  expect_small_model(model);
}

TEST(Zoo, Gpt2Medium) {
  Model model = build("gpt2-medium", 0, 16);
  std::cout << "gpt2-medium parameters: " << model.parameter_count() << "\n";
  EXPECT_EQ(model.blocks.size(), 26u);
  expect_block_names(model);
}

// A padded key changes no unpadded output; a later token changes no earlier GPT-2 logit.
TEST(Zoo, AttentionMasks) {
  torch::NoGradGuard no_grad;
  ModelOptions options;
  options.seq_len = 8;
  zoo::TransformerShape shape{2, 32, 4, 64, 200, 16};  // vocab > [MASK] = 103

  Model bert = zoo::build_bert("bert-test", shape, options);
  bert.train(false);
  Batch batch = synthetic_batch(bert.sample, kBatch, 3, DataStream::kTrain, 0);
  batch.inputs["attention_mask"].narrow(1, 6, 2).zero_();
  Bundle padded = batch.inputs;
  padded["input_ids"] = padded["input_ids"].clone();
  padded["input_ids"].narrow(1, 6, 2).fill_(5);
  padded["mlm_positions"] = torch::tensor({1, 2}, torch::kLong).expand({kBatch, 2});
  batch.inputs["mlm_positions"] = padded["mlm_positions"];
  EXPECT_TRUE(torch::allclose(bert.forward(batch.inputs).at("mlm_logits"),
                              bert.forward(padded).at("mlm_logits"), 1e-5, 1e-6));

  Model gpt = zoo::build_gpt2("gpt-test", shape, options);
  gpt.train(false);
  Batch causal = synthetic_batch(gpt.sample, kBatch, 3, DataStream::kTrain, 0);
  Bundle changed = causal.inputs;
  changed["input_ids"] = changed["input_ids"].clone();
  changed["input_ids"].select(1, 7).fill_(9);
  torch::Tensor a = gpt.forward(causal.inputs).at("logits");  // [N, 8, V]
  torch::Tensor b = gpt.forward(changed).at("logits");
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 7), b.narrow(1, 0, 7), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(a.select(1, 7), b.select(1, 7)));
}

// One backward pass reaches every parameter, tied copies included.
TEST(Zoo, Backward) {
  ModelOptions options;
  options.seq_len = 16;
  std::vector<Model> models;
  models.push_back(build("mlp"));
  models.push_back(build("resnet-mini"));
  models.push_back(build("bert-tiny", 0, 16));
  models.push_back(zoo::build_gpt2("gpt-test", {2, 32, 4, 64, 200, 16}, options));
  for (const Model& model : models) {
    Batch batch = synthetic_batch(model.sample, kBatch, 9, DataStream::kTrain, 1);
    model.loss(model.forward(batch.inputs), batch.targets).backward();
    for (const NamedTensor& p : model.named_parameters()) {
      ASSERT_TRUE(p.tensor.grad().defined()) << p.name;
      EXPECT_TRUE(torch::isfinite(p.tensor.grad()).all().item<bool>()) << p.name;
    }
    for (const TiedParameter& tie : model.ties) {
      EXPECT_GT(parameter(model, tie.user).grad().abs().sum().item<double>(), 0) << tie.user;
    }
  }
}

// Initialisation is a function of (seed, block name) only.
TEST(Zoo, SeededInit) {
  for (const char* name : {"resnet-mini", "bert-tiny"}) {
    Model a = build(name, 0, 0, 5);
    Model b = build(name, 0, 0, 5);
    Model c = build(name, 0, 0, 6);
    std::vector<NamedTensor> pa = a.named_parameters(), pb = b.named_parameters(),
                             pc = c.named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    ASSERT_EQ(pa.size(), pc.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < pa.size(); ++i) {
      EXPECT_EQ(pa[i].name, pb[i].name);
      EXPECT_TRUE(torch::equal(pa[i].tensor, pb[i].tensor)) << pa[i].name;
      if (!torch::equal(pa[i].tensor, pc[i].tensor)) ++differ;
    }
    EXPECT_GT(differ, pa.size() / 3) << name << ": a new seed draws new weights";
    // Random draws reach every block: the first and last weights differ across seeds.
    EXPECT_FALSE(torch::equal(pa.front().tensor, pc.front().tensor)) << pa.front().name;
  }
}

}  // namespace
}  // namespace repipe
