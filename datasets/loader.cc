// datasets/loader.cc: readers claim steps in order, at most `prefetch` ahead of the consumer.
#include "datasets/loader.h"

#include <utility>

#include "common/error.h"

namespace repipe {
namespace {

Bundle pinned(const Bundle& bundle) {
  Bundle out;
  for (const auto& [name, tensor] : bundle) out[name] = tensor.pin_memory();
  return out;
}

}  // namespace

LoadedStep DataLoader::read_step(const Dataset& dataset, const LoaderOptions& options,
                                 std::int64_t step) {
  const std::int64_t size = options.batch_size / options.microbatches;
  std::vector<std::int64_t> owned = options.owned;
  if (owned.empty()) {
    for (std::int64_t j = 0; j < options.microbatches; ++j) owned.push_back(j);
  }
  LoadedStep loaded{step, {}, 0};
  for (std::int64_t j : owned) {
    Batch batch = dataset.read(DataStream::kTrain, (step - 1) * options.batch_size + j * size, size,
                               options.part);
    if (options.pin_memory) batch = {pinned(batch.inputs), pinned(batch.targets)};
    loaded.bytes += bundle_bytes(batch.inputs) + bundle_bytes(batch.targets);
    loaded.microbatches[j] = std::move(batch);
  }
  return loaded;
}

DataLoader::DataLoader(const Dataset& dataset, LoaderOptions options)
    : dataset_(dataset),
      options_(std::move(options)),
      next_to_claim_(options_.first_step),
      next_to_hand_(options_.first_step) {
  REPIPE_CHECK(options_.batch_size > 0 && options_.microbatches > 0 &&
                   options_.batch_size % options_.microbatches == 0,
               "batch " << options_.batch_size << " in " << options_.microbatches);
  for (std::int64_t j : options_.owned) {
    REPIPE_CHECK(j >= 0 && j < options_.microbatches, "micro-batch " << j);
  }
  REPIPE_CHECK(options_.prefetch >= 1 && options_.readers >= 0, "prefetch or readers");
  for (int r = 0; r < options_.readers; ++r) readers_.emplace_back([this] { reader_loop(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  room_free_.notify_all();
  for (std::thread& t : readers_) t.join();
}

void DataLoader::reader_loop() {
  for (;;) {
    std::int64_t step = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // A step is claimed only when it fits in the queue: at most `prefetch` steps are held or
      // being read ahead of the consumer.
      room_free_.wait(lock, [&] {
        const bool past_end = options_.last_step > 0 && next_to_claim_ > options_.last_step;
        return stopping_ || (!past_end && next_to_claim_ < next_to_hand_ + options_.prefetch);
      });
      if (stopping_) return;
      step = next_to_claim_++;
    }
    LoadedStep loaded;
    std::exception_ptr error;
    try {
      loaded = read_step(dataset_, options_, step);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error) {
        failed_[step] = error;
      } else {
        ready_[step] = std::move(loaded);
      }
    }
    step_ready_.notify_all();
  }
}

LoadedStep DataLoader::next() {
  const std::int64_t step = next_to_hand_;
  REPIPE_CHECK(options_.last_step == 0 || step <= options_.last_step,
               "step " << step << " past the end");
  if (readers_.empty()) {
    ++next_to_hand_;
    return read_step(dataset_, options_, step);
  }
  LoadedStep loaded;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    step_ready_.wait(lock, [&] { return ready_.count(step) > 0 || failed_.count(step) > 0; });
    if (auto it = failed_.find(step); it != failed_.end()) std::rethrow_exception(it->second);
    loaded = std::move(ready_.at(step));
    ready_.erase(step);
    ++next_to_hand_;
  }
  room_free_.notify_all();
  return loaded;
}

}  // namespace repipe
