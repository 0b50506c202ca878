#include "batch/world.hpp"

#include <mpi.h>

#include <cstdlib>
#include <vector>

#include "core/error.hpp"

namespace drshym::batch {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(ErrorKind::Io, "batch", std::string(what) + " failed: " + std::string(msg, size_t(len)));
}

}  // namespace

bool World::launched_by_mpi() {
  // Open MPI's mpirun, then PMIx and PMI-1/2 (Slurm's srun --mpi=pmix|pmi2, MPICH's Hydra).
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

World& World::instance() {
  static World w;
  return w;
}

World::World() {
  if (!launched_by_mpi()) return;
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  mpi_ = true;
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw Error(ErrorKind::Internal, "batch", "this MPI library cannot run threads beside MPI (MPI_THREAD_FUNNELED)");
  }
  // Errors come back as codes (turned into drshym::Error) instead of aborting the job silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  int expected = 0;
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"})
    if (const char* n = std::getenv(v); n && !expected) expected = std::atoi(n);
  if (expected > 1 && size_ == 1) {
    MPI_Finalize();
    mpi_ = false;
    throw Error(ErrorKind::Usage, "batch",
                "the launcher started " + std::to_string(expected) +
                    " processes but MPI sees one: this drshym is built with Open MPI; launch it with Open MPI's "
                    "mpirun or with srun --mpi=pmix");
  }
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

World::~World() {
  if (mpi_) MPI_Finalize();
}

void World::send(int dest, int tag, const std::string& payload) const {
  check(MPI_Send(payload.data(), int(payload.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD), "MPI_Send");
}

namespace {

World::Message receive_probed(const MPI_Status& st) {
  int count = 0;
  MPI_Get_count(&st, MPI_CHAR, &count);
  World::Message m;
  m.source = st.MPI_SOURCE;
  m.tag = st.MPI_TAG;
  m.payload.resize(size_t(count));
  MPI_Status rs;
  check(MPI_Recv(m.payload.data(), count, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, &rs), "MPI_Recv");
  return m;
}

}  // namespace

std::optional<World::Message> World::poll() const {
  int flag = 0;
  MPI_Status st;
  check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st), "MPI_Iprobe");
  if (!flag) return std::nullopt;
  return receive_probed(st);
}

World::Message World::receive(int source) const {
  MPI_Status st;
  check(MPI_Probe(source, MPI_ANY_TAG, MPI_COMM_WORLD, &st), "MPI_Probe");
  return receive_probed(st);
}

void World::abort(int code) const {
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace drshym::batch
