#include "models/zoo.h"

#include <functional>
#include <map>

#include "common/error.h"
#include "models/zoo_builders.h"

namespace repipe {
namespace {

using Builder = std::function<Model(const ModelOptions&)>;

const zoo::ResNetShape kResNet50{{3, 4, 6, 3}, 64, 1000, 224};
const zoo::ResNetShape kResNetMini{{1, 1, 1, 1}, 8, 10, 64};

// BERT and GPT-2 shapes from the original papers / Hugging Face configs.
constexpr zoo::TransformerShape kBertTiny{2, 128, 2, 512, 30522, 512};
constexpr zoo::TransformerShape kBertBase{12, 768, 12, 3072, 30522, 512};
constexpr zoo::TransformerShape kBertLarge{24, 1024, 16, 4096, 30522, 512};
// A GPT-2 small enough for multi-rank tests on a 2-core machine; its tied embedding and head
// land on the first and last stage.
constexpr zoo::TransformerShape kGpt2Tiny{2, 64, 2, 256, 512, 128};
constexpr zoo::TransformerShape kGpt2{12, 768, 12, 3072, 50257, 1024};
constexpr zoo::TransformerShape kGpt2Medium{24, 1024, 16, 4096, 50257, 1024};

const std::vector<std::pair<std::string, Builder>>& registry() {
  static const std::vector<std::pair<std::string, Builder>> builders = {
      {"mlp", zoo::build_mlp},
      {"small_cnn", zoo::build_small_cnn},
      {"resnet-mini",
       [](const ModelOptions& o) { return zoo::build_resnet("resnet-mini", kResNetMini, o); }},
      {"vgg16", zoo::build_vgg16},
      {"resnet50",
       [](const ModelOptions& o) { return zoo::build_resnet("resnet50", kResNet50, o); }},
      {"bert-tiny",
       [](const ModelOptions& o) { return zoo::build_bert("bert-tiny", kBertTiny, o); }},
      {"bert-base",
       [](const ModelOptions& o) { return zoo::build_bert("bert-base", kBertBase, o); }},
      {"bert-large",
       [](const ModelOptions& o) { return zoo::build_bert("bert-large", kBertLarge, o); }},
      {"gpt2-tiny",
       [](const ModelOptions& o) { return zoo::build_gpt2("gpt2-tiny", kGpt2Tiny, o); }},
      {"gpt2", [](const ModelOptions& o) { return zoo::build_gpt2("gpt2", kGpt2, o); }},
      {"gpt2-medium",
       [](const ModelOptions& o) { return zoo::build_gpt2("gpt2-medium", kGpt2Medium, o); }},
  };
  return builders;
}

}  // namespace

const std::vector<std::string>& zoo_model_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& entry : registry()) out.push_back(entry.first);
    return out;
  }();
  return names;
}

std::string zoo_model_list() {
  std::string list;
  for (const std::string& name : zoo_model_names()) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

Model build_model(const std::string& name, const ModelOptions& options) {
  for (const auto& [entry_name, builder] : registry()) {
    if (entry_name == name) return builder(options);
  }
  throw UsageError("unknown model '" + name + "' (the zoo has: " + zoo_model_list() + ")");
}

}  // namespace repipe
