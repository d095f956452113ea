// datasets/loader.h: a rank's stream of training steps, read ahead on background threads.
//
// Step s (from 1) covers samples (s - 1) * batch_size onwards of the training stream, split
// into `microbatches` equal micro-batches. A rank reads only its shard: the micro-batches it
// owns (a data-parallel replica owns every R-th one) and only the half it needs (the first
// stage the inputs, the last the targets). Readers prefetch up to `prefetch` steps ahead into a
// bounded queue, in parallel, and hand steps out in order; the content of a step depends only
// on the dataset and the step number, never on timing or the number of readers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "datasets/batch.h"
#include "datasets/dataset.h"

namespace repipe {

struct LoaderOptions {
  std::int64_t batch_size = 1;        // samples per step, over all micro-batches
  std::int64_t microbatches = 1;      // m: batch_size must be a multiple of it
  std::vector<std::int64_t> owned;    // micro-batches (0 .. m-1) this rank reads; empty = all
  BatchPart part = BatchPart::kBoth;  // which half this rank needs
  std::int64_t first_step = 1;        // where a resumed run starts
  std::int64_t last_step = 0;         // no reads past it; 0 = unbounded
  int prefetch = 2;                   // steps held ready at most (the queue's bound)
  int readers = 1;                    // background threads; 0 reads on the caller's thread
  bool pin_memory = false;            // page-locked tensors, for fast copies to a GPU
};

// One step's micro-batches of this rank, by index within the step.
struct LoadedStep {
  std::int64_t step = 0;
  std::map<std::int64_t, Batch> microbatches;
  std::int64_t bytes = 0;  // of the tensors handed out
};

class DataLoader {
 public:
  // Starts the readers. `dataset` must outlive the loader.
  DataLoader(const Dataset& dataset, LoaderOptions options);
  // Stops the readers (a read in progress finishes first).
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next step, waiting for it if the readers are behind. A reader's exception is rethrown
  // here, in step order.
  LoadedStep next();

  const LoaderOptions& options() const { return options_; }

  // Step `step` read directly (no prefetch): the same content next() hands out.
  static LoadedStep read_step(const Dataset& dataset, const LoaderOptions& options,
                              std::int64_t step);

 private:
  void reader_loop();

  const Dataset& dataset_;
  LoaderOptions options_;
  std::mutex mutex_;
  std::condition_variable step_ready_, room_free_;
  std::int64_t next_to_claim_;  // the next step a reader takes
  std::int64_t next_to_hand_;   // the next step next() returns
  std::map<std::int64_t, LoadedStep> ready_;
  std::map<std::int64_t, std::exception_ptr> failed_;
  bool stopping_ = false;
  std::vector<std::thread> readers_;
};

}  // namespace repipe
