// profiler/block_profiler.cc: times each block's forward and backward and measures its bytes.
#include "profiler/block_profiler.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "common/error.h"
#include "datasets/synthetic.h"
#include "profiler/allocation_counter.h"

namespace repipe {
namespace {

// The synthetic batch and the dropout masks of profiling: step 0, micro-batch 0.
constexpr std::int64_t kProfileStep = 0;
constexpr std::int64_t kProfileMicrobatch = 0;

// Wall-clock timing of work queued on a device: the device is synchronised before the clock
// starts and after the work, so a reading covers the kernels it launched (on CPU both are no-ops).
// Hook for CUDA timing: record CUDA events around the work instead and read them after one
// synchronisation; only this class changes.
class DeviceStopwatch {
 public:
  explicit DeviceStopwatch(const torch::Device& device) : device_(device) {}

  template <typename Work>
  double time_ms(Work&& work) const {
    synchronize();
    auto start = std::chrono::steady_clock::now();
    work();
    synchronize();
    std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
    return elapsed.count();
  }

 private:
  void synchronize() const {
    if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
  }

  torch::Device device_;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

torch::ScalarType precision_dtype(const std::string& precision) {
  if (precision == "fp32") return torch::kFloat32;
  if (precision == "bf16") return torch::kBFloat16;
  throw UsageError("precision: expected " + std::string(profile_precisions()) + ", got '" +
                   precision + "'");
}

void validate(const ProfileOptions& options) {
  if (options.batch_size < 1) {
    throw UsageError("batch size: expected an integer >= 1, got " +
                     std::to_string(options.batch_size));
  }
  if (options.repeats < 1) {
    throw UsageError("repeats: expected an integer >= 1, got " + std::to_string(options.repeats));
  }
  if (options.warmup < 0) {
    throw UsageError("warmup: expected an integer >= 0, got " + std::to_string(options.warmup));
  }
  precision_dtype(options.precision);
}

// Converts the floating-point parameters and buffers of every block (Module::to(dtype) would
// convert integer buffers such as BatchNorm's num_batches_tracked too).
void convert_model(Model& model, torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  for (const BlockPtr& block : model.blocks) {
    for (torch::Tensor& p : block->parameters(/*recurse=*/true)) {
      if (p.is_floating_point()) p.set_data(p.to(dtype));
    }
    for (torch::Tensor& b : block->buffers(/*recurse=*/true)) {
      if (b.is_floating_point()) b.set_data(b.to(dtype));
    }
  }
}

// The bundle on `device` with its floating-point tensors in `dtype`.
Bundle convert_bundle(const Bundle& bundle, const torch::Device& device, torch::ScalarType dtype) {
  Bundle out;
  for (const auto& [key, tensor] : bundle) {
    out[key] = tensor.is_floating_point() ? tensor.to(device, dtype) : tensor.to(device);
  }
  return out;
}

// Fresh autograd leaves over the same memory; floating-point ones require grad if asked.
Bundle as_leaves(const Bundle& bundle, bool requires_grad) {
  Bundle out;
  for (const auto& [key, tensor] : bundle) {
    torch::Tensor leaf = tensor.detach();
    if (requires_grad && leaf.is_floating_point()) leaf.requires_grad_(true);
    out[key] = leaf;
  }
  return out;
}

Bundle detached(const Bundle& bundle) {
  Bundle out;
  for (const auto& [key, tensor] : bundle) out[key] = tensor.detach();
  return out;
}

void clear_grads(const std::vector<torch::Tensor>& tensors) {
  for (const torch::Tensor& t : tensors) {
    if (t.grad().defined()) t.mutable_grad() = torch::Tensor();
  }
}

// One block under measurement: its inputs, and the loss when it is the model's last block.
class BlockRun {
 public:
  BlockRun(const Model& model, Block& block, const Bundle& input, bool input_requires_grad,
           const Bundle* targets, std::uint64_t seed)
      : model_(model),
        block_(block),
        inputs_(as_leaves(input, input_requires_grad)),
        targets_(targets),
        seed_(seed) {
    for (const torch::Tensor& p : block_.parameters(/*recurse=*/true)) grad_holders_.push_back(p);
    for (const auto& entry : inputs_) {
      if (entry.second.requires_grad()) grad_holders_.push_back(entry.second);
    }
  }

  // A forward with autograd recording: the output bundle and, for the last block, the loss.
  std::pair<Bundle, torch::Tensor> forward() {
    seed_block_forward(block_, seed_, kProfileStep, kProfileMicrobatch);
    Bundle output = block_.forward(inputs_);
    torch::Tensor loss = targets_ ? model_.loss(output, *targets_) : torch::Tensor();
    return {std::move(output), std::move(loss)};
  }

  // What backward starts from: the loss, or the outputs autograd reaches, with gradients of ones.
  static std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> backward_roots(
      const Bundle& output, const torch::Tensor& loss) {
    std::vector<torch::Tensor> roots;
    std::vector<torch::Tensor> grads;
    if (loss.defined()) {
      roots.push_back(loss);
      grads.push_back(torch::ones_like(loss));
      return {roots, grads};
    }
    for (const auto& entry : output) {
      const torch::Tensor& t = entry.second;
      if (t.requires_grad() && t.grad_fn()) {  // produced here (not a leaf passed through)
        roots.push_back(t);
        grads.push_back(torch::ones_like(t));
      }
    }
    return {roots, grads};
  }

  // Drops the gradients of the block's parameters and inputs: every backward starts from none.
  void clear_gradients() const { clear_grads(grad_holders_); }

 private:
  const Model& model_;
  Block& block_;
  Bundle inputs_;
  const Bundle* targets_;
  std::uint64_t seed_;
  std::vector<torch::Tensor> grad_holders_;
};

// CPU memory a forward leaves allocated while its outputs (and the loss) are alive. Runs on the
// CPU; a block on another device is moved here for this one forward and moved back.
std::int64_t measure_activation_bytes(const Model& model, Block& block, const Bundle& input,
                                      bool input_requires_grad, const Bundle* targets,
                                      const torch::Device& device, std::uint64_t seed) {
  torch::Device cpu(torch::kCPU);
  bool moved = !device.is_cpu();
  std::optional<Bundle> cpu_targets;
  if (moved) {
    block.to(cpu);
    if (targets) cpu_targets = bundle_to(*targets, cpu);
  }
  std::int64_t bytes = 0;
  {
    Bundle cpu_input = moved ? bundle_to(input, cpu) : input;
    BlockRun run(model, block, cpu_input, input_requires_grad,
                 cpu_targets ? &*cpu_targets : targets, seed);
    CpuAllocationCounter counter;
    std::int64_t before = counter.live_bytes();
    std::pair<Bundle, torch::Tensor> held = run.forward();  // alive while the counter reads
    bytes = counter.live_bytes() - before;
  }  // the outputs and their graph are freed here
  if (moved) block.to(device);
  return std::max<std::int64_t>(bytes, 0);
}

}  // namespace

const char* profile_precisions() {
  return "fp32 | bf16";
}

Profile profile_model(Model& model, const ProfileOptions& options) {
  validate(options);
  REPIPE_CHECK(!model.blocks.empty(), "model " << model.name << " has no blocks");
  torch::ScalarType dtype = precision_dtype(options.precision);
  const torch::Device& device = options.device;
  model.to(device);
  convert_model(model, dtype);
  model.train(true);

  Batch batch = synthetic_batch(model.sample, options.batch_size, options.seed, DataStream::kTrain,
                                kProfileStep);
  Bundle bundle = convert_bundle(batch.inputs, device, dtype);
  Bundle targets = bundle_to(batch.targets, device);

  Profile profile;
  profile.device = device.str();
  profile.batch_size = options.batch_size;
  profile.precision = options.precision;
  profile.note = "measured: median of " + std::to_string(options.repeats) + " runs after " +
                 std::to_string(options.warmup) + " warm-up runs per block";
  if (!device.is_cpu()) {
    profile.note += "; activation bytes measured on the CPU";
  }
  DeviceStopwatch stopwatch(device);
  for (std::size_t i = 0; i < model.blocks.size(); ++i) {
    Block& block = *model.blocks[i];
    bool first = i == 0;  // its inputs are data: no input gradient
    const Bundle* block_targets = i + 1 == model.blocks.size() ? &targets : nullptr;
    BlockRun run(model, block, bundle, !first, block_targets, options.seed);

    BlockProfile row;
    row.name = block.block_name();
    row.param_bytes = block_parameter_bytes(block);
    std::vector<double> forward_ms;
    std::vector<double> backward_ms;
    Bundle next;
    for (std::int64_t r = 0; r < options.warmup + options.repeats; ++r) {
      std::pair<Bundle, torch::Tensor> result;
      double f = stopwatch.time_ms([&] { result = run.forward(); });
      auto [roots, grads] = BlockRun::backward_roots(result.first, result.second);
      run.clear_gradients();
      double b = 0;
      if (!roots.empty()) {
        b = stopwatch.time_ms([&] { torch::autograd::backward(roots, grads); });
      }
      if (r >= options.warmup) {
        forward_ms.push_back(f);
        backward_ms.push_back(b);
      }
      if (r + 1 == options.warmup + options.repeats) {
        row.output_bytes = bundle_bytes(result.first);
        next = detached(result.first);
      }
    }
    run.clear_gradients();
    row.forward_ms = median(forward_ms);
    row.backward_ms = median(backward_ms);
    row.activation_bytes =
        measure_activation_bytes(model, block, bundle, !first, block_targets, device, options.seed);
    profile.blocks.push_back(row);
    if (options.on_block) options.on_block(i, row);
    bundle = std::move(next);
  }
  return profile;
}

}  // namespace repipe
