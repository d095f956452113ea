// profiler/slice_run.h: a slice of a model's blocks, run forward and backward as one pipeline
// stage runs them, on a fixed input.
//
// The block profiler times slices of one block; the interference profiler times whole stage
// slices alone and under co-located load. Both need the same thing: the slice's inputs as
// autograd leaves (requiring grad unless they are the model's data, so the input gradient a stage
// sends back is computed), the loss when the slice ends the model, and backward from the loss or
// from gradients of ones on the outputs.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "models/model.h"

namespace repipe {

// Wall-clock timing of work queued on a device: the device is synchronised before the clock
// starts and after the work, so a reading covers the kernels it launched (on CPU both are no-ops).
// Hook for CUDA timing: record CUDA events around the work instead; only this class changes.
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
  void synchronize() const;

  torch::Device device_;
};

// The median of a non-empty list.
double median_of(std::vector<double> values);

// The output of blocks [0, first) for `input`, without autograd: the input block `first` sees.
Bundle run_blocks_before(const Model& model, std::size_t first, const Bundle& input);

class SliceRun {
 public:
  // Blocks [first, last] of `model` on `input` (the bundle block `first` receives). `targets`
  // are required when the slice ends the model (its loss starts backward) and ignored otherwise.
  // Dropout masks are seeded per block at (seed, step 0, micro-batch 0).
  SliceRun(const Model& model, std::size_t first, std::size_t last, const Bundle& input,
           const Bundle& targets, std::uint64_t seed);

  // A forward with autograd recording: the last block's output bundle and, when the slice ends
  // the model, the loss.
  std::pair<Bundle, torch::Tensor> forward();

  // Backward of a forward's result: from the loss, or from gradients of ones on the outputs that
  // autograd reaches. Gradients of the slice's parameters and inputs are cleared first, so every
  // backward starts from none. Returns the autograd call's time on `stopwatch` (0 when the
  // outputs need no gradient).
  double backward(const std::pair<Bundle, torch::Tensor>& result, const DeviceStopwatch& stopwatch);

  // One forward and backward, timed on `stopwatch`: the training work of one micro-batch.
  double step_ms(const DeviceStopwatch& stopwatch);

  // Drops the gradients of the slice's parameters and inputs.
  void clear_gradients() const;

  bool ends_model() const { return ends_model_; }

 private:
  const Model& model_;
  std::size_t first_;
  std::size_t last_;
  bool ends_model_;
  Bundle inputs_;
  Bundle targets_;
  std::uint64_t seed_;
  std::vector<torch::Tensor> grad_holders_;
};

}  // namespace repipe
