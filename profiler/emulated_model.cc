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

using Clock = std::chrono::steady_clock;

// The host work between two blocks run back to back (autograd's bookkeeping, the engine's
// per-block calls: tens of microseconds) that the emulated device hides, as a GPU hides it
// behind the previous kernel. A longer gap is a wait (for a message, say): the device idles.
constexpr auto kHiddenHostGap = std::chrono::microseconds(200);

// When this thread's previous emulated block ended on the emulated device.
thread_local Clock::time_point device_free_at;

// When a block called at `entry` starts on the emulated device: at once, or when the previous
// block ended if it was called just after it.
Clock::time_point device_start(Clock::time_point entry) {
  const bool back_to_back = entry >= device_free_at && entry - device_free_at <= kHiddenHostGap;
  return back_to_back ? device_free_at : entry;
}

// Returns `ms` after `start`: a block's own tensor work runs inside its profiled time, not on
// top of it. Sleeping, not spinning: ranks sharing a core do not slow each other down. Exactly:
// over dozens of blocks per micro-batch, a plain sleep's lateness would add milliseconds.
void finish_after(Clock::time_point start, double ms) {
  const Clock::time_point deadline =
      start + std::chrono::ceil<Clock::duration>(
                  std::chrono::duration<double, std::milli>(std::max(ms, 0.0)));
  const bool on_time = Clock::now() <= deadline;  // else the host work overran the profile
  sleep_until_exactly(deadline);
  device_free_at = on_time ? deadline : Clock::now();
}

// out[n, :] = mean(x[n, :]) * weight[0], repeated over `features` columns. Written as an autograd
// function so that the backward sleep runs inside autograd's backward pass, where the block's
// real backward would run. Saves only the two scalars per sample it needs, never the weight
// itself, so an optimizer step between forward and backward cannot invalidate it.
class SleepingBroadcast : public torch::autograd::Function<SleepingBroadcast> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, std::int64_t features,
                               double forward_ms, double backward_ms, std::int64_t start_ns) {
    torch::Tensor mean = x.mean(/*dim=*/1, /*keepdim=*/true);  // [N, 1]
    torch::Tensor scale = weight.narrow(0, 0, 1).clone();      // [1]
    ctx->save_for_backward({mean, scale});
    ctx->saved_data["backward_ms"] = backward_ms;
    ctx->saved_data["input_features"] = x.size(1);
    ctx->saved_data["weight_numel"] = weight.numel();
    torch::Tensor out = (mean * scale).expand({x.size(0), features}).contiguous();  // [N, k]
    finish_after(Clock::time_point(std::chrono::nanoseconds(start_ns)), forward_ms);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto start = device_start(Clock::now());
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
    finish_after(start, ctx->saved_data["backward_ms"].toDouble());
    return {grad_x,          grad_weight,     torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
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
  const std::int64_t start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    device_start(Clock::now()).time_since_epoch())
                                    .count();
  torch::Tensor x = need(input, "x");
  std::int64_t n = x.size(0);
  torch::Tensor flat = x.reshape({n, -1}).to(weight_.scalar_type());  // [N, F]
  torch::Tensor out = SleepingBroadcast::apply(flat, weight_, output_features(n), forward_ms_,
                                               backward_ms_, start_ns);  // [N, k]
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
