// profiler/emulated_model.cc: blocks that sleep for their profiled times, in forward and in
// autograd's backward.
#include "profiler/emulated_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/error.h"
#include "common/precise_sleep.h"
#include "common/text_format.h"

namespace repipe {
namespace {

constexpr double kBytesPerFloat = 4;
constexpr double kWeightLow = 0.9;  // initial weights: uniform in [kWeightLow, kWeightHigh]
constexpr double kWeightHigh = 1.1;

// Sleeping, not spinning: ranks sharing a core do not slow each other down. Precisely: over
// dozens of blocks per micro-batch, the default timer slack would add milliseconds.
void sleep_ms(double ms) {
  if (ms <= 0) return;
  sleep_precisely(
      std::chrono::ceil<std::chrono::nanoseconds>(std::chrono::duration<double, std::milli>(ms)));
}

// out[n, :] = mean(x[n, :]) * weight[0], repeated over `features` columns. Written as an autograd
// function so that the backward sleep runs inside autograd's backward pass, where the block's
// real backward would run. Saves only the two scalars per sample it needs, never the weight
// itself, so an optimizer step between forward and backward cannot invalidate it.
class SleepingBroadcast : public torch::autograd::Function<SleepingBroadcast> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, std::int64_t features,
                               double forward_ms, double backward_ms) {
    sleep_ms(forward_ms);
    torch::Tensor mean = x.mean(/*dim=*/1, /*keepdim=*/true);  // [N, 1]
    torch::Tensor scale = weight.narrow(0, 0, 1).clone();      // [1]
    ctx->save_for_backward({mean, scale});
    ctx->saved_data["backward_ms"] = backward_ms;
    ctx->saved_data["input_features"] = x.size(1);
    ctx->saved_data["weight_numel"] = weight.numel();
    return (mean * scale).expand({x.size(0), features}).contiguous();  // [N, features]
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    sleep_ms(ctx->saved_data["backward_ms"].toDouble());
    torch::autograd::variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& mean = saved[0];
    const torch::Tensor& scale = saved[1];
    std::int64_t input_features = ctx->saved_data["input_features"].toInt();
    torch::Tensor grad_product = grad_outputs[0].sum(/*dim=*/1, /*keepdim=*/true);  // [N, 1]
    torch::Tensor grad_x = (grad_product * (scale / static_cast<double>(input_features)))
                               .expand({grad_product.size(0), input_features})
                               .contiguous();
    torch::Tensor grad_weight =
        torch::zeros({ctx->saved_data["weight_numel"].toInt()}, scale.options());
    grad_weight.narrow(0, 0, 1).copy_((grad_product * mean).sum().reshape({1}));
    return {grad_x, grad_weight, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

void check_scale(const char* name, double value, bool zero_allowed) {
  if (std::isfinite(value) && (value > 0 || (zero_allowed && value == 0))) return;
  throw UsageError(std::string(name) + ": expected a finite number " +
                   (zero_allowed ? ">= 0" : "> 0") + ", got " + format_double(value));
}

}  // namespace

EmulatedBlock::EmulatedBlock(const BlockProfile& profile, std::int64_t profile_batch,
                             double time_scale, double bytes_scale, bool last, std::uint64_t seed)
    : Block(profile.name),
      forward_ms_(profile.forward_ms * time_scale),
      backward_ms_(profile.backward_ms * time_scale),
      output_floats_(static_cast<double>(profile.output_bytes) * bytes_scale / kBytesPerFloat),
      profile_batch_(profile_batch),
      last_(last) {
  std::int64_t weight_numel = std::max<std::int64_t>(
      1, std::llround(static_cast<double>(profile.param_bytes) * bytes_scale / kBytesPerFloat));
  seed_block_init(profile.name, seed);
  weight_ =
      register_parameter("weight", torch::empty({weight_numel}).uniform_(kWeightLow, kWeightHigh));
}

std::int64_t EmulatedBlock::output_features(std::int64_t microbatch) const {
  double samples = static_cast<double>(profile_batch_ > 0 ? profile_batch_ : microbatch);
  return std::max<std::int64_t>(1, std::llround(output_floats_ / samples));
}

Bundle EmulatedBlock::forward(const Bundle& input) {
  torch::Tensor x = need(input, "x");
  std::int64_t n = x.size(0);
  torch::Tensor flat = x.reshape({n, -1}).to(weight_.scalar_type());  // [N, F]
  torch::Tensor out = SleepingBroadcast::apply(flat, weight_, output_features(n), forward_ms_,
                                               backward_ms_);  // [N, k]
  Bundle output = input;
  if (last_) {
    // Logits that depend on the output, for Model::loss; fixed class weights, no parameter.
    torch::Tensor class_weights = torch::linspace(-1, 1, kEmulatedClasses, out.options());
    output.erase("x");
    output["logits"] = out.mean(/*dim=*/1, /*keepdim=*/true) * class_weights;  // [N, classes]
  } else {
    output["x"] = out;
  }
  return output;
}

Model build_emulated_model(const Profile& profile, const std::string& name, double time_scale,
                           double bytes_scale, std::uint64_t seed) {
  check_scale("time_scale", time_scale, /*zero_allowed=*/true);
  check_scale("bytes_scale", bytes_scale, /*zero_allowed=*/false);
  REPIPE_CHECK(!profile.blocks.empty(), "an emulated model needs at least one block");
  Model model;
  model.name = name;
  model.sample.task = TaskKind::kClassification;
  model.sample.input_shape = {kEmulatedInputFeatures};
  model.sample.num_classes = kEmulatedClasses;
  for (std::size_t i = 0; i < profile.blocks.size(); ++i) {
    bool last = i + 1 == profile.blocks.size();
    model.blocks.push_back(std::make_shared<EmulatedBlock>(profile.blocks[i], profile.batch_size,
                                                           time_scale, bytes_scale, last, seed));
  }
  return model;
}

Model build_emulated_model(const std::string& profile_path, double time_scale, double bytes_scale,
                           std::uint64_t seed) {
  return build_emulated_model(load_profile(profile_path), kEmulatedModelPrefix + profile_path,
                              time_scale, bytes_scale, seed);
}

}  // namespace repipe
