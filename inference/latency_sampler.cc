// inference/latency_sampler.cc: synthetic inputs of the drawn lengths, forward passes timed with
// the profiler's device stopwatch.
#include "inference/latency_sampler.h"

#include <algorithm>
#include <random>

#include <torch/torch.h>

#include "common/error.h"
#include "datasets/batch.h"
#include "datasets/synthetic.h"
#include "models/zoo.h"
#include "profiler/slice_run.h"

namespace repipe {
namespace {

// One request's work: forward passes over inputs of growing length (one for non-generating
// models).
struct Request {
  std::int64_t input_len = 0;
  std::int64_t output_len = 0;
  std::vector<Bundle> passes;
};

Bundle inputs_of_length(const SampleSpec& model_spec, std::int64_t length, std::int64_t batch,
                        std::uint64_t seed, std::int64_t index, const torch::Device& device) {
  SampleSpec spec = model_spec;
  if (spec.task != TaskKind::kClassification) {
    spec.seq_len = length;
    spec.max_predictions = std::min(spec.max_predictions, length - 1);  // fewer than L masked
  }
  return bundle_to(synthetic_batch(spec, batch, seed, DataStream::kTrain, index).inputs, device);
}

double run_ms(const Model& model, const std::vector<Bundle>& passes, const DeviceStopwatch& clock) {
  return clock.time_ms([&] {
    for (const Bundle& input : passes) run_blocks_before(model, model.blocks.size(), input);
  });
}

}  // namespace

MeasuredSample measure_latency_sample(const LatencySampleOptions& o) {
  if (o.num < 1) throw UsageError("flag --num: expected at least 1 request");
  if (o.max_batch < 1) throw UsageError("flag --max-batch: expected at least 1");
  if (o.max_new_tokens < 1) throw UsageError("flag --max-new-tokens: expected at least 1");
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(o.device);
  } catch (const std::exception&) {
    throw UsageError("flag --device: expected cpu, cuda or cuda:N, got '" + o.device + "'");
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    throw UsageError("flag --device: " + o.device + ": no CUDA device here");
  }
  ModelOptions model_options;
  model_options.seed = o.seed;
  Model model = build_model(o.model, model_options);
  model.to(device);
  model.train(false);
  const SampleSpec& spec = model.sample;
  const bool language = spec.task != TaskKind::kClassification;
  const bool generates = spec.task == TaskKind::kCausalLM;
  std::int64_t max_len = o.max_len;
  if (language) {
    const std::int64_t capacity = spec.seq_len - (generates ? o.max_new_tokens : 0);
    if (max_len == 0) max_len = capacity;
    if (o.min_len < 1 || max_len < o.min_len || max_len > capacity) {
      throw UsageError("flags --min-len/--max-len: " + o.model + " takes input lengths 1.." +
                       std::to_string(capacity) +
                       (generates ? " (its sequence length less --max-new-tokens)" : "") +
                       ", got " + std::to_string(o.min_len) + ".." + std::to_string(max_len));
    }
  }

  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<std::int64_t> length(language ? o.min_len : 0,
                                                     language ? max_len : 0);
  std::uniform_int_distribution<std::int64_t> output(1, o.max_new_tokens);
  auto make_request = [&](std::int64_t input_len, std::int64_t output_len, std::int64_t batch,
                          std::int64_t index) {
    Request r{language ? input_len : spec.input_shape.back(), generates ? output_len : 0, {}};
    for (std::int64_t t = 0; t < std::max<std::int64_t>(1, r.output_len); ++t) {
      r.passes.push_back(inputs_of_length(spec, input_len + t, batch, o.seed, index, device));
    }
    return r;
  };

  const DeviceStopwatch clock(device);
  torch::NoGradGuard no_grad;
  MeasuredSample sample;
  std::vector<std::int64_t> drawn_lengths;
  const std::int64_t total = o.num + o.max_batch;
  for (std::int64_t i = 0; i < o.num; ++i) {
    const std::int64_t input_len = length(rng);
    const Request request = make_request(input_len, output(rng), 1, i);
    if (i == 0) run_ms(model, request.passes, clock);  // warm-up: first-touch allocations
    sample.requests.push_back({static_cast<double>(request.input_len),
                               run_ms(model, request.passes, clock),
                               static_cast<double>(request.output_len)});
    drawn_lengths.push_back(input_len);
    if (o.on_progress) o.on_progress(i + 1, total);
  }

  // The batch curve on the request at the 80th percentile of input length (DynWork's choice).
  std::vector<std::int64_t> sorted = drawn_lengths;
  std::sort(sorted.begin(), sorted.end());
  const std::int64_t curve_len =
      sorted[static_cast<std::size_t>(0.8 * static_cast<double>(sorted.size() - 1))];
  const std::int64_t curve_output = generates ? (o.max_new_tokens + 1) / 2 : 0;
  for (std::int64_t b = 1; b <= o.max_batch; ++b) {
    const Request request = make_request(curve_len, curve_output, b, 0);
    for (int w = 0; w < o.warmup; ++w) run_ms(model, request.passes, clock);
    double sum = 0;
    for (int t = 0; t < o.timed; ++t) sum += run_ms(model, request.passes, clock);
    sample.batch_curve.push_back({b, sum / std::max(1, o.timed)});
    if (o.on_progress) o.on_progress(o.num + b, total);
  }
  return sample;
}

}  // namespace repipe
