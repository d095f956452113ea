// engine/bundle_channel.h: a Bundle (named tensors) as messages between two stages.
//
// A bundle travels as one fixed-size header (names, dtypes, shapes, which tensors need a
// gradient) followed by one message per tensor, so a receiver needs no size in advance and
// the same framing works over NCCL, which cannot probe message sizes.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "datasets/batch.h"
#include "engine/transport/transport.h"

namespace repipe {

// A bundle on its way out; keeps every message alive until sent.
class OutgoingBundle {
 public:
  OutgoingBundle(Transport& transport, const Bundle& bundle, int peer);
  bool done();
  void wait(std::chrono::milliseconds timeout, const std::string& what);

 private:
  std::vector<std::unique_ptr<Transfer>> transfers_;
};

// The bundles coming from one peer, in order. Receives must be posted in the order the
// messages were sent, and a bundle's tensor receives can only be posted once its header has
// arrived; so the header of bundle k+1 is posted only after the tensors of bundle k.
// Receive buffers are reused once nothing else holds them: a fresh large allocation would
// fault its pages in on every message (4x slower at 32 MiB, benchmarks/README.md).
class InboundChannel {
 public:
  InboundChannel(Transport& transport, int peer);
  ~InboundChannel();

  // Announces the next bundle from the peer; returns its ticket. Receives are posted as soon
  // as the order allows.
  std::int64_t expect();
  // Waits for the bundle of `ticket`. Tensors the sender marked as needing a gradient arrive
  // as leaves with requires_grad set.
  Bundle wait(std::int64_t ticket, std::chrono::milliseconds timeout, const std::string& what);

 private:
  struct Pending;
  void progress();
  torch::Tensor receive_buffer(torch::ScalarType dtype, const std::vector<std::int64_t>& shape);

  Transport& transport_;
  int peer_;
  std::int64_t next_ticket_ = 0;
  std::vector<std::unique_ptr<Pending>> queue_;  // oldest first
  std::vector<torch::Tensor> buffers_;           // flat; lent out as views
};

}  // namespace repipe
