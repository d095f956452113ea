// profiler/block_profiler.h: measures a model's profile (partitioner/profile.h), block by block.
//
// `repipe profile --model M` runs this; the planner, the simulator and the emulated model read
// the resulting CSV. Each block is measured in model order on the real bundle the blocks before it
// produce from one synthetic batch, so shapes, masks and skip tensors are those of training.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "models/model.h"
#include "partitioner/profile.h"

namespace repipe {

struct ProfileOptions {
  std::int64_t batch_size = 32;        // samples per measured forward and backward
  torch::Device device = torch::kCPU;  // where the blocks run
  std::string precision = "fp32";      // "fp32" or "bf16"
  std::int64_t repeats = 10;           // timed runs per block; the median is kept
  std::int64_t warmup = 3;             // untimed runs per block before them
  std::uint64_t seed = 1;              // synthetic batch and dropout masks
  // Called after each block is measured (progress); may be empty.
  std::function<void(std::size_t index, const BlockProfile& block)> on_block;
};

// The precisions profile_model accepts, for messages: "fp32 | bf16".
const char* profile_precisions();

// Profiles every block of `model`, in order. The model is moved to options.device, converted to
// the precision and left in training mode; BatchNorm statistics change as in training.
//
// Per block (one row of the profile):
//  - forward_ms, backward_ms: medians over `repeats` runs after `warmup` runs, wall clock with
//    the device synchronised before and after (a no-op on CPU). Backward is the block's alone:
//    gradients of ones for its outputs that autograd reaches, its floating-point inputs leaves
//    that require grad (so the input gradient a stage sends back is computed), except the
//    model's inputs (data needs no gradient). The last block is timed with the model's loss on
//    the synthetic targets: its forward includes the loss, its backward starts from the loss, so
//    the blocks' times add up to a whole training step.
//  - output_bytes: bytes of every tensor of the block's output bundle (what a stage boundary
//    after the block sends: pass-through masks and skip tensors included); the last block's
//    output is its logits, not the loss.
//  - param_bytes: bytes of the block's parameters (buffers are not counted).
//  - activation_bytes: measured, not estimated: CPU tensor memory the forward (with autograd
//    recording, loss included for the last block) allocated and still holds when it returns,
//    with its outputs alive: the outputs plus what autograd saved for backward. The block's input
//    is not counted (the block before it allocated it), so consecutive blocks add up without
//    counting a tensor twice. Counted by CpuAllocationCounter; on a CUDA device the block is
//    measured on the CPU for this one forward (same tensors saved, up to cuDNN's workspaces)
//    until CUDA allocator statistics are wired in.
//
// fp32 runs the model as built; bf16 converts the floating-point parameters, buffers and inputs
// to bfloat16 (pure bf16, not autocast: the same in libtorch 1.13 and 2.x, on CPU and CUDA), so
// bytes are bf16 bytes. Bad options (batch size < 1, repeats < 1, warmup < 0, unknown precision)
// are a UsageError.
Profile profile_model(Model& model, const ProfileOptions& options);

}  // namespace repipe
