// profiler/block_profiler.cc: times each block's forward and backward and measures its bytes.
#include "profiler/block_profiler.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "common/error.h"
#include "datasets/synthetic.h"
#include "profiler/allocation_counter.h"
#include "profiler/slice_run.h"

namespace repipe {
namespace {

// The synthetic batch of profiling is step 0's (SliceRun seeds dropout at step 0 too).
constexpr std::int64_t kProfileStep = 0;

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

Bundle detached(const Bundle& bundle) {
  Bundle out;
  for (const auto& [key, tensor] : bundle) out[key] = tensor.detach();
  return out;
}

// CPU memory a forward leaves allocated while its outputs (and the loss) are alive. Runs on the
// CPU; a block on another device is moved here for this one forward and moved back.
std::int64_t measure_activation_bytes(const Model& model, std::size_t index, const Bundle& input,
                                      const Bundle& targets, const torch::Device& device,
                                      std::uint64_t seed) {
  torch::Device cpu(torch::kCPU);
  Block& block = *model.blocks[index];
  bool moved = !device.is_cpu();
  if (moved) block.to(cpu);
  std::int64_t bytes = 0;
  {
    SliceRun run(model, index, index, moved ? bundle_to(input, cpu) : input,
                 moved ? bundle_to(targets, cpu) : targets, seed);
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
    SliceRun run(model, i, i, bundle, targets, options.seed);

    BlockProfile row;
    row.name = block.block_name();
    row.param_bytes = block_parameter_bytes(block);
    std::vector<double> forward_ms;
    std::vector<double> backward_ms;
    Bundle next;
    for (std::int64_t r = 0; r < options.warmup + options.repeats; ++r) {
      std::pair<Bundle, torch::Tensor> result;
      double f = stopwatch.time_ms([&] { result = run.forward(); });
      double b = run.backward(result, stopwatch);
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
    row.forward_ms = median_of(forward_ms);
    row.backward_ms = median_of(backward_ms);
    row.activation_bytes =
        measure_activation_bytes(model, i, bundle, targets, device, options.seed);
    profile.blocks.push_back(row);
    if (options.on_block) options.on_block(i, row);
    bundle = std::move(next);
  }
  return profile;
}

}  // namespace repipe
