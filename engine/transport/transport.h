// engine/transport/transport.h: moving tensors between ranks, as the stage runtime needs it.
//
// Point-to-point messages carry no tags: between two ranks, messages are matched in the order
// they were posted (NCCL's model; MPI gives the same with one tag per communicator). Every
// message in flight owns its tensor, so a sender may drop its handle at once. Waits poll with
// back-off and end at a deadline: no rank spins a core, and no wait is unbounded.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

namespace repipe {

// A message in flight; the tensor lives as long as the transfer.
class Transfer {
 public:
  virtual ~Transfer() = default;
  // Makes progress; true once the message has been sent (or received into the tensor).
  virtual bool done() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Starts sending the contiguous `tensor` to `peer`.
  virtual std::unique_ptr<Transfer> send(torch::Tensor tensor, int peer) = 0;
  // Starts receiving into the contiguous `tensor` (its size must match the message).
  virtual std::unique_ptr<Transfer> recv(torch::Tensor tensor, int peer) = 0;

  // Element-wise sum over all ranks, in place (double or float tensors).
  virtual void all_reduce_sum(torch::Tensor& tensor) = 0;
  // Makes `ranks` (sorted, including this rank) a group for collectives. Every member calls it
  // with the same ranks, and every rank creates its groups in one global order, so that
  // creation, itself collective over the members, cannot deadlock.
  virtual void add_group(const std::vector<int>& ranks) = 0;
  // all_reduce_sum over the members of a group made by add_group.
  virtual void all_reduce_sum(torch::Tensor& tensor, const std::vector<int>& group) = 0;
  // Every rank's `text`, on rank `root` (empty elsewhere).
  virtual std::vector<std::string> gather_text(const std::string& text, int root) = 0;
  virtual void barrier() = 0;
};

// Thrown when a wait passes its deadline: a peer died or hangs.
class TransportTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Polls `transfer` until done: yielding for the first 50 us, then sleeping between polls for an
// eighth of the time waited (10 us to 1 ms); throws TransportTimeout("<what>: no progress for
// <timeout>") at the deadline.
void wait_for(Transfer& transfer, std::chrono::milliseconds timeout, const std::string& what);

}  // namespace repipe
