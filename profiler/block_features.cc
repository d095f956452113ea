// profiler/block_features.cc: FLOPs and operator counts through a RecordFunction observer.
#include "profiler/block_features.h"

#include <array>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/record_function.h>
#include <torch/csrc/profiler/util.h>
#include <torch/torch.h>

#include "common/error.h"
#include "datasets/synthetic.h"

namespace repipe {
namespace {

// The operator categories counted, each by every aten name it dispatches under in libtorch 1.13
// and 2.x (a composite such as aten::linear is recorded in one and not the other). An operator
// counts only when no operator of its category encloses it, so linear -> addmm is one.
enum Category { kLinear, kConv, kNorm, kActivation, kPool, kAttention, kEmbedding, kCategories };

int category_of(std::string_view name) {
  static const std::vector<std::pair<std::string_view, Category>> names = {
      {"aten::linear", kLinear},
      {"aten::matmul", kLinear},
      {"aten::addmm", kLinear},
      {"aten::mm", kLinear},
      {"aten::bmm", kLinear},
      {"aten::baddbmm", kLinear},
      {"aten::conv1d", kConv},
      {"aten::conv2d", kConv},
      {"aten::conv3d", kConv},
      {"aten::convolution", kConv},
      {"aten::batch_norm", kNorm},
      {"aten::layer_norm", kNorm},
      {"aten::group_norm", kNorm},
      {"aten::native_batch_norm", kNorm},
      {"aten::native_layer_norm", kNorm},
      {"aten::native_group_norm", kNorm},
      {"aten::relu", kActivation},
      {"aten::relu_", kActivation},
      {"aten::gelu", kActivation},
      {"aten::tanh", kActivation},
      {"aten::sigmoid", kActivation},
      {"aten::silu", kActivation},
      {"aten::max_pool2d", kPool},
      {"aten::max_pool2d_with_indices", kPool},
      {"aten::avg_pool2d", kPool},
      {"aten::adaptive_avg_pool2d", kPool},
      {"aten::softmax", kAttention},
      {"aten::_softmax", kAttention},
      {"aten::embedding", kEmbedding},
  };
  for (const auto& [n, category] : names) {
    if (name == n) return category;
  }
  return -1;
}

int& category_count(BlockFeatures& tally, int category) {
  switch (category) {
    case kLinear:
      return tally.count_linear;
    case kConv:
      return tally.count_conv;
    case kNorm:
      return tally.count_norm;
    case kActivation:
      return tally.count_activation;
    case kPool:
      return tally.count_pool;
    case kAttention:
      return tally.count_attention;
    default:
      return tally.count_embedding;
  }
}

// The forward being counted on this thread: its tally and how many operators of each category
// are open. The observers are plain functions (what RecordFunction takes), so they find it here.
struct Counting {
  BlockFeatures* tally = nullptr;
  std::array<int, kCategories> open{};
};
thread_local Counting counting;

struct OpenCategory : at::ObserverContext {
  explicit OpenCategory(int c) : category(c) {}
  int category;
};

std::unique_ptr<at::ObserverContext> on_operator_start(const at::RecordFunction& fn) {
  if (counting.tally == nullptr || fn.scope() != at::RecordScope::FUNCTION) return nullptr;
  std::string name = fn.name();
  // computeFlops knows matmul, convolution and elementwise kernels and is 0 for the rest, so a
  // composite (aten::linear) and the kernel it calls (aten::addmm) are not counted twice.
  counting.tally->flops += static_cast<double>(
      torch::profiler::impl::computeFlops(name, torch::profiler::impl::saveExtraArgs(fn)));
  int category = category_of(name);
  if (category < 0) return nullptr;
  if (counting.open[category]++ == 0) ++category_count(*counting.tally, category);
  return std::make_unique<OpenCategory>(category);
}

void on_operator_end(const at::RecordFunction& /*fn*/, at::ObserverContext* context) {
  if (context != nullptr) --counting.open[static_cast<OpenCategory*>(context)->category];
}

// Observes the operators of this thread while alive.
class OperatorCounter {
 public:
  explicit OperatorCounter(BlockFeatures& tally) {
    counting = Counting{&tally, {}};
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(on_operator_start, on_operator_end).needsInputs(true));
  }
  ~OperatorCounter() {
    at::removeCallback(handle_);
    counting = Counting{};
  }
  OperatorCounter(const OperatorCounter&) = delete;
  OperatorCounter& operator=(const OperatorCounter&) = delete;

 private:
  at::CallbackHandle handle_;
};

}  // namespace

std::vector<BlockFeatures> measure_block_features(const Model& model, const Profile& profile,
                                                  std::int64_t batch_size, std::uint64_t seed) {
  if (profile.blocks.size() != model.blocks.size()) {
    throw UsageError("profile: " + std::to_string(profile.blocks.size()) + " blocks, but model " +
                     model.name + " has " + std::to_string(model.blocks.size()));
  }
  torch::NoGradGuard no_grad;
  Batch batch = synthetic_batch(model.sample, batch_size, seed, DataStream::kTrain, /*step=*/0);
  Bundle bundle = batch.inputs;
  std::vector<BlockFeatures> features(model.blocks.size());
  for (std::size_t i = 0; i < model.blocks.size(); ++i) {
    BlockFeatures& block = features[i];
    {
      OperatorCounter counter(block);
      bundle = model.blocks[i]->forward(bundle);
    }
    block.flops *= 3;  // backward: a gradient for the inputs and one for the weights
    const BlockProfile& row = profile.blocks[i];
    block.bytes = row.param_bytes + row.activation_bytes + row.output_bytes;
    for (const torch::Tensor& p : model.blocks[i]->parameters(/*recurse=*/true)) {
      block.params += static_cast<double>(p.numel());
    }
  }
  return features;
}

ProbeFeatures stage_probe_features(const std::vector<BlockFeatures>& blocks, std::size_t first,
                                   std::size_t last, double alone_ms) {
  REPIPE_CHECK(first <= last && last < blocks.size(),
               "stage " << first << "-" << last << " of " << blocks.size() << " blocks");
  ProbeFeatures stage;
  for (std::size_t i = first; i <= last; ++i) {
    const BlockFeatures& b = blocks[i];
    stage.gflop += b.flops / 1e9;
    stage.mbytes += b.bytes / 1e6;
    stage.mparams += b.params / 1e6;
    stage.count_linear += b.count_linear;
    stage.count_conv += b.count_conv;
    stage.count_norm += b.count_norm;
    stage.count_activation += b.count_activation;
    stage.count_pool += b.count_pool;
    stage.count_attention += b.count_attention;
    stage.count_embedding += b.count_embedding;
  }
  stage.alone_ms = alone_ms;
  double seconds = alone_ms / 1e3;
  stage.gflops = seconds > 0 ? stage.gflop / seconds : 0;
  stage.gbps = seconds > 0 ? stage.mbytes / 1e3 / seconds : 0;
  return stage;
}

}  // namespace repipe
