// inference/latency_sampler.h: `repipe workload sample`: inference latency of a zoo model, with
// the same blocks and kernels as training, per request and against the batch size.
//
// Per request: an input length drawn uniformly from [min_len, max_len] (language models; image
// models have one input size), one forward pass of every block without autograd; GPT models
// generate: a drawn output length of 1..max_new_tokens tokens, one forward over the sequence so
// far per token (no KV cache, as the zoo's blocks run). The batch curve (DynWork's): the request
// at the 80th percentile of input length, replicated b = 1..max_batch times, `warmup` untimed
// and `timed` timed runs each, the mean of the timed ones.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "inference/measured_sample.h"

namespace repipe {

struct LatencySampleOptions {
  std::string model;
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::int64_t num = 200;      // requests
  std::int64_t max_batch = 16;
  std::int64_t min_len = 4;          // input tokens (language models)
  std::int64_t max_len = 0;          // 0: the model's sequence length (less max_new_tokens for GPT)
  std::int64_t max_new_tokens = 16;  // GPT generation
  int warmup = 10, timed = 10;       // batch curve runs per batch size
  std::uint64_t seed = 1;
  std::function<void(std::int64_t done, std::int64_t total)> on_progress;
};

// Bad options (an unknown model or device, num < 1, max_batch < 1, lengths out of the model's
// range) are UsageErrors naming the flag. The requests are not yet filtered (without_outliers).
MeasuredSample measure_latency_sample(const LatencySampleOptions& options);

}  // namespace repipe
