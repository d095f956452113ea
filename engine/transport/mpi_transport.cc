#include "engine/transport/mpi_transport.h"

#include <algorithm>
#include <climits>

#include "common/error.h"

namespace repipe {
namespace {

constexpr int kTag = 0;

// One MPI request and the tensor it reads or writes.
class MpiTransfer : public Transfer {
 public:
  MpiTransfer(torch::Tensor tensor, MPI_Request request, bool is_receive)
      : tensor_(std::move(tensor)), request_(request), is_receive_(is_receive) {}
  ~MpiTransfer() override {
    if (request_ == MPI_REQUEST_NULL) return;
    // Dropped before completion (an error is unwinding): MPI must not touch freed memory.
    // A receive is cancelled and waited for; a send cannot be cancelled safely, so its
    // tensor is deliberately kept alive for the rest of the process.
    if (is_receive_) {
      MPI_Cancel(&request_);
      MPI_Wait(&request_, MPI_STATUS_IGNORE);
    } else {
      MPI_Request_free(&request_);
      new torch::Tensor(std::move(tensor_));  // NOLINT: intentional leak on an error path
    }
  }

  bool done() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int flag = 0;
    mpi_check(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "MPI_Test");
    return flag != 0;
  }

 private:
  torch::Tensor tensor_;
  MPI_Request request_;
  bool is_receive_;
};

int byte_count(const torch::Tensor& tensor) {
  REPIPE_CHECK(tensor.device().is_cpu(),
               "the MPI transport moves CPU tensors, got " << tensor.device());
  REPIPE_CHECK(tensor.is_contiguous(), "the MPI transport moves contiguous tensors");
  std::size_t bytes = tensor.numel() * tensor.element_size();
  REPIPE_CHECK(bytes <= static_cast<std::size_t>(INT_MAX), "message of " << bytes << " bytes");
  return static_cast<int>(bytes);
}

}  // namespace

void mpi_check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw InternalError(std::string(call) + " failed: " + std::string(text, length));
}

MpiTransport::MpiTransport(MPI_Comm world) {
  mpi_check(MPI_Comm_dup(world, &comm_), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiTransport::~MpiTransport() {
  for (auto& [ranks, comm] : groups_) MPI_Comm_free(&comm);
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::unique_ptr<Transfer> MpiTransport::send(torch::Tensor tensor, int peer) {
  MPI_Request request;
  mpi_check(MPI_Isend(tensor.data_ptr(), byte_count(tensor), MPI_BYTE, peer, kTag, comm_, &request),
            "MPI_Isend");
  return std::make_unique<MpiTransfer>(std::move(tensor), request, /*is_receive=*/false);
}

std::unique_ptr<Transfer> MpiTransport::recv(torch::Tensor tensor, int peer) {
  MPI_Request request;
  mpi_check(MPI_Irecv(tensor.data_ptr(), byte_count(tensor), MPI_BYTE, peer, kTag, comm_, &request),
            "MPI_Irecv");
  return std::make_unique<MpiTransfer>(std::move(tensor), request, /*is_receive=*/true);
}

void MpiTransport::all_reduce_sum(torch::Tensor& tensor) {
  all_reduce_sum_in(tensor, comm_);
}

void MpiTransport::add_group(const std::vector<int>& ranks) {
  REPIPE_CHECK(std::is_sorted(ranks.begin(), ranks.end()) &&
                   std::binary_search(ranks.begin(), ranks.end(), rank_),
               "a group is sorted and holds its caller");
  if (groups_.count(ranks) > 0) return;
  MPI_Group world_group;
  MPI_Group group;
  mpi_check(MPI_Comm_group(comm_, &world_group), "MPI_Comm_group");
  mpi_check(MPI_Group_incl(world_group, static_cast<int>(ranks.size()), ranks.data(), &group),
            "MPI_Group_incl");
  MPI_Comm comm;
  mpi_check(MPI_Comm_create_group(comm_, group, /*tag=*/1, &comm), "MPI_Comm_create_group");
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Group_free(&group);
  MPI_Group_free(&world_group);
  groups_[ranks] = comm;
}

void MpiTransport::all_reduce_sum(torch::Tensor& tensor, const std::vector<int>& group) {
  auto it = groups_.find(group);
  REPIPE_CHECK(it != groups_.end(), "all-reduce over a group nobody added");
  all_reduce_sum_in(tensor, it->second);
}

void MpiTransport::all_reduce_sum_in(torch::Tensor& tensor, MPI_Comm comm) {
  REPIPE_CHECK(tensor.is_contiguous() && tensor.device().is_cpu(), "all-reduce of a CPU tensor");
  MPI_Datatype type = tensor.scalar_type() == torch::kDouble  ? MPI_DOUBLE
                      : tensor.scalar_type() == torch::kFloat ? MPI_FLOAT
                                                              : MPI_DATATYPE_NULL;
  REPIPE_CHECK(type != MPI_DATATYPE_NULL, "all-reduce of " << tensor.scalar_type());
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()), type,
                          MPI_SUM, comm),
            "MPI_Allreduce");
}

std::vector<std::string> MpiTransport::gather_text(const std::string& text, int root) {
  int length = static_cast<int>(text.size());
  std::vector<int> lengths(rank_ == root ? size_ : 0);
  mpi_check(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root, comm_), "MPI_Gather");
  std::vector<int> offsets(lengths.size(), 0);
  std::string all;
  if (rank_ == root) {
    for (std::size_t i = 1; i < lengths.size(); ++i) offsets[i] = offsets[i - 1] + lengths[i - 1];
    all.resize(lengths.empty() ? 0 : offsets.back() + lengths.back());
  }
  mpi_check(MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(),
                        MPI_CHAR, root, comm_),
            "MPI_Gatherv");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lengths.size(); ++i)
    out.push_back(all.substr(offsets[i], lengths[i]));
  return out;
}

void MpiTransport::barrier() {
  mpi_check(MPI_Barrier(comm_), "MPI_Barrier");
}

}  // namespace repipe
