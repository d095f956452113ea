// launch/mpi_session.h: MPI for the lifetime of a command launched by mpirun.
#pragma once

namespace repipe {

// True when this process was started by mpirun (Open MPI, or a PMI/PMIx launcher).
// Without it repipe skips MPI entirely (a singleton MPI start costs a second).
bool launched_by_mpirun();

// MPI_Init_thread at construction (funneled: only the main thread calls MPI),
// MPI_Finalize at destruction.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Ends every rank of the job at once with `code` (a failure on this rank).
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace repipe
