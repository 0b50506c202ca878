#pragma once
// The processes a batch runs on. Started by an MPI launcher (mpirun / mpiexec from Open MPI, or
// Slurm's srun with PMI or PMIx), World initializes MPI and is one rank among many; started as a
// plain command it is a world of one and MPI is never touched, so a laptop run needs no launcher.
// Only the constructing (main) thread may call the messaging functions (MPI_THREAD_FUNNELED).
// This header does not include mpi.h.
#include <optional>
#include <string>

namespace drshym::batch {

class World {
 public:
  // The process's world, started on first use (MPI can be initialized only once per process;
  // it is finalized at exit). Throws when a launcher says there are N ranks but this MPI
  // library sees one: a binary built with Open MPI started by another MPI's launcher would
  // otherwise run N separate one-rank batches into the same folder.
  static World& instance();
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  bool mpi() const { return mpi_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Ranks on this node (MPI_COMM_TYPE_SHARED), this one included: they share its cores.
  int local_size() const { return local_size_; }

  // Point-to-point messages carrying a tag and a string (JSON).
  struct Message {
    int source = -1;
    int tag = 0;
    std::string payload;
  };
  void send(int dest, int tag, const std::string& payload) const;
  // A waiting message from any rank, or nullopt at once when there is none.
  std::optional<Message> poll() const;
  // Blocks until a message from `source` arrives.
  Message receive(int source) const;
  // Ends every rank of the job (a fatal error on one rank must not leave the others waiting).
  [[noreturn]] void abort(int code) const;

  // True when the environment says an MPI launcher started this process.
  static bool launched_by_mpi();

 private:
  World();
  bool mpi_ = false;
  int rank_ = 0, size_ = 1, local_size_ = 1;
};

}  // namespace drshym::batch
