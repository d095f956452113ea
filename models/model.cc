#include "models/model.h"

#include <set>

#include "common/error.h"

namespace repipe {
namespace {

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                              labels.reshape({-1}));
}

// Labels of -100 (padded masked-LM positions of real BERT data) count neither way, as in the
// loss (cross_entropy's ignore_index).
std::pair<std::int64_t, std::int64_t> count_correct(const torch::Tensor& logits,
                                                    const torch::Tensor& labels) {
  torch::Tensor counted = labels.ne(-100);
  torch::Tensor hits = logits.argmax(-1).eq(labels).logical_and(counted);
  return {hits.sum().item<std::int64_t>(), counted.sum().item<std::int64_t>()};
}

torch::Tensor get(const Bundle& bundle, const std::string& key) {
  auto it = bundle.find(key);
  REPIPE_CHECK(it != bundle.end(), "bundle has no tensor '" << key << "'");
  return it->second;
}

std::vector<NamedTensor> prefixed(const Block& block,
                                  const torch::OrderedDict<std::string, torch::Tensor>& items) {
  std::vector<NamedTensor> out;
  for (const auto& item : items)
    out.push_back({block.block_name() + "." + item.key(), item.value()});
  return out;
}

}  // namespace

Bundle Model::forward(const Bundle& inputs) const {
  Bundle bundle = inputs;
  for (const BlockPtr& block : blocks) bundle = block->forward(bundle);
  return bundle;
}

torch::Tensor Model::loss(const Bundle& output, const Bundle& targets) const {
  switch (sample.task) {
    case TaskKind::kClassification:
    case TaskKind::kCausalLM:
      return cross_entropy(get(output, "logits"), get(targets, "labels"));
    case TaskKind::kMaskedLM:
      return cross_entropy(get(output, "mlm_logits"), get(targets, "mlm_ids")) +
             cross_entropy(get(output, "nsp_logits"), get(targets, "nsp_labels"));
  }
  REPIPE_CHECK(false, "unknown task kind");
}

std::pair<std::int64_t, std::int64_t> Model::correct(const Bundle& output,
                                                     const Bundle& targets) const {
  if (sample.task == TaskKind::kMaskedLM) {
    return count_correct(get(output, "mlm_logits"), get(targets, "mlm_ids"));
  }
  return count_correct(get(output, "logits"), get(targets, "labels"));
}

std::vector<NamedTensor> block_parameters(const Block& block) {
  return prefixed(block, block.named_parameters(/*recurse=*/true));
}

std::int64_t block_parameter_bytes(const Block& block) {
  std::int64_t bytes = 0;
  for (const NamedTensor& p : block_parameters(block)) bytes += tensor_bytes(p.tensor);
  return bytes;
}

std::vector<NamedTensor> Model::named_parameters() const {
  std::vector<NamedTensor> out;
  for (const BlockPtr& block : blocks) {
    for (NamedTensor& p : block_parameters(*block)) out.push_back(std::move(p));
  }
  return out;
}

std::vector<NamedTensor> Model::named_buffers() const {
  std::vector<NamedTensor> out;
  for (const BlockPtr& block : blocks) {
    for (NamedTensor& b : prefixed(*block, block->named_buffers(/*recurse=*/true))) {
      out.push_back(std::move(b));
    }
  }
  return out;
}

std::int64_t Model::parameter_count() const {
  std::set<std::string> users;
  for (const TiedParameter& tie : ties) users.insert(tie.user);
  std::int64_t count = 0;
  for (const NamedTensor& p : named_parameters()) {
    if (!users.count(p.name)) count += p.tensor.numel();
  }
  return count;
}

void Model::to(const torch::Device& device) {
  for (const BlockPtr& block : blocks) block->to(device);
}

void Model::train(bool on) {
  for (const BlockPtr& block : blocks) block->train(on);
}

}  // namespace repipe
