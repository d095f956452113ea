// profiler/emulated_model.h: a model built from a profile, whose blocks sleep for their profiled
// forward and backward times and pass tensors of their profiled sizes.
//
// It runs the real runtime, transport, optimizer and repartitioning with GPU-like timing on a
// 2-core machine (sleeping ranks do not compete for cores), and at stage counts far beyond the
// cores. Planner validation and repartitioning benchmarks use it: `--model emulated:PROFILE`.
//
// A block takes its profiled time, not that time plus its own work: it sleeps until the time has
// passed since it started (common/precise_sleep's sleep_until_exactly, on time on average). The
// blocks of one thread run back to back on an emulated device, as kernels on a GPU: a block
// called within 0.2 ms of the previous one's end starts at that end, so the host work between
// blocks (autograd's bookkeeping, the engine's per-block calls) is hidden as a GPU hides it. A
// longer gap, such as a wait for a message, leaves the device idle.
#pragma once

#include <cstdint>
#include <string>

#include "models/model.h"
#include "partitioner/profile.h"

namespace repipe {

// `--model emulated:PROFILE` names the emulated model of the profile file PROFILE.
inline constexpr const char* kEmulatedModelPrefix = "emulated:";

// The emulated task: classification of kEmulatedInputFeatures floats into kEmulatedClasses. The
// input is small on purpose: drawing synthetic batches should cost nothing; the costs the model
// emulates are the blocks' sleeps and the tensors they pass.
inline constexpr std::int64_t kEmulatedInputFeatures = 16;
inline constexpr std::int64_t kEmulatedClasses = 10;

// One block of a profile. Forward reads "x" [N, ...] and writes "x" [N, k] (the last block writes
// "logits" [N, kEmulatedClasses] instead), where out[n, :] = mean(x[n, :]) * weight[0]: cheap, so
// the cost of a block is its sleep, and differentiable in both the input and the weight, so
// autograd flows end to end. Forward takes forward_ms * time_scale; backward, run by autograd,
// takes backward_ms * time_scale.
class EmulatedBlock : public Block {
 public:
  // `profile_batch`: the samples the profile's bytes are for (Profile::batch_size); 0 if unknown.
  // `last`: the model's last block, which emits logits. Initialises its weight from (seed, name).
  EmulatedBlock(const BlockProfile& profile, std::int64_t profile_batch, double time_scale,
                double bytes_scale, bool last, std::uint64_t seed);

  Bundle forward(const Bundle& input) override;
  bool draws_random_numbers() const override { return false; }

  // k, the floats per sample of the output for a micro-batch of `microbatch` samples: the profiled
  // output bytes times bytes_scale, over 4 bytes a float, shared by the samples of the profiled
  // batch. With the batch size unknown (PipeDream profiles) the profile is taken to describe one
  // micro-batch, whatever its size: a forward then sends the profiled bytes. At least 1.
  std::int64_t output_features(std::int64_t microbatch) const;

  double forward_sleep_ms() const { return forward_ms_; }
  double backward_sleep_ms() const { return backward_ms_; }

 private:
  double forward_ms_;
  double backward_ms_;
  double output_floats_;  // scaled output bytes / 4, for the profiled batch
  std::int64_t profile_batch_;
  bool last_;
  torch::Tensor weight_;
};

// The emulated model of `profile`, named `name`: one EmulatedBlock per profile block, named as in
// the profile; task classification of kEmulatedInputFeatures floats into kEmulatedClasses, so
// SyntheticDataset draws its batches. Each block has one float32 parameter "weight" of
// max(1, round(param_bytes * bytes_scale / 4)) elements, so optimizer, migration and checkpoints
// move realistic bytes. A block profiled without parameters still gets one element: its backward,
// and so its backward sleep, must run even where its input needs no gradient (the first block).
// Weights are drawn from (seed, block name), uniform in [0.9, 1.1] so the signal neither grows
// nor vanishes across many blocks.
//
// time_scale (>= 0) multiplies the profiled times, bytes_scale (> 0) the profiled bytes (outputs
// and parameters); a bad scale is a UsageError. The sleep is the same for any micro-batch size:
// profile at the micro-batch size being emulated, or fold the ratio into time_scale.
Model build_emulated_model(const Profile& profile, const std::string& name, double time_scale,
                           double bytes_scale, std::uint64_t seed);

// load_profile(profile_path) (repipe's CSV or a PipeDream graph), emulated as above and named
// "emulated:<profile_path>". A bad profile is a UsageError naming the file and line.
Model build_emulated_model(const std::string& profile_path, double time_scale, double bytes_scale,
                           std::uint64_t seed);

}  // namespace repipe
