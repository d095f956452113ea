// engine/transport/mpi_transport.h: the Transport over MPI, for CPU tensors.
//
// Messages use one tag on a private duplicate of the world communicator, so MPI's
// non-overtaking rule gives the per-peer ordering the interface promises.
#pragma once

#include <map>

#include <mpi.h>

#include "engine/transport/transport.h"

namespace repipe {

class MpiTransport : public Transport {
 public:
  // Duplicates `world` (MPI must be initialised).
  explicit MpiTransport(MPI_Comm world);
  ~MpiTransport() override;
  MpiTransport(const MpiTransport&) = delete;
  MpiTransport& operator=(const MpiTransport&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::unique_ptr<Transfer> send(torch::Tensor tensor, int peer) override;
  std::unique_ptr<Transfer> recv(torch::Tensor tensor, int peer) override;
  void all_reduce_sum(torch::Tensor& tensor) override;
  void add_group(const std::vector<int>& ranks) override;
  void all_reduce_sum(torch::Tensor& tensor, const std::vector<int>& group) override;
  std::vector<std::string> gather_text(const std::string& text, int root) override;
  void barrier() override;

 private:
  void all_reduce_sum_in(torch::Tensor& tensor, MPI_Comm comm);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::map<std::vector<int>, MPI_Comm> groups_;
};

// Throws InternalError naming the MPI call when `code` is not MPI_SUCCESS.
void mpi_check(int code, const char* call);

}  // namespace repipe
