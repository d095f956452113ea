// profiler/block_features.h: what the slowdown predictor knows of a block before running it
// beside a co-located load: its floating-point operations, the bytes it touches, its parameters
// and its operator mix.
//
// A stage's features are the sum of its blocks' (stage_probe_features), so the replanner can
// score any candidate stage from per-block numbers measured once.
#pragma once

#include <cstdint>
#include <vector>

#include "models/model.h"
#include "partitioner/profile.h"
#include "profiler/interference_data.h"

namespace repipe {

struct BlockFeatures {
  double flops = 0;   // forward + backward per batch: 3x the forward's counted FLOPs
  double bytes = 0;   // parameters + activations kept for backward + outputs (from a profile)
  double params = 0;  // parameter count
  // Operator counts of one forward, by the aten operators it dispatches (functional
  // activations count too, which module types would miss).
  int count_linear = 0;      // matrix products: linear, matmul, addmm, mm, bmm
  int count_conv = 0;        // convolutions
  int count_norm = 0;        // batch, layer and group norms
  int count_activation = 0;  // aten::relu, gelu, tanh, sigmoid, silu
  int count_pool = 0;        // aten::max_pool2d, avg_pool2d, adaptive_avg_pool2d
  int count_attention = 0;   // aten::softmax (one per attention)
  int count_embedding = 0;   // aten::embedding
};

// One forward of every block on `model.sample`'s synthetic batch of `batch_size`, without
// autograd, counting FLOPs (libtorch's own formulas for matmul, convolution and elementwise
// operators) and operators. Bytes and parameters come from `profile` (the same model, measured
// at the same batch size).
std::vector<BlockFeatures> measure_block_features(const Model& model, const Profile& profile,
                                                  std::int64_t batch_size, std::uint64_t seed);

// The features of blocks [first, last] as one stage, with its time alone.
ProbeFeatures stage_probe_features(const std::vector<BlockFeatures>& blocks, std::size_t first,
                                   std::size_t last, double alone_ms);

}  // namespace repipe
