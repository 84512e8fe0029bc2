// Communicators: the ranks of a job started by an MPI launcher (mpirun, srun), for data-parallel
// training (model/trainer.cpp) and sharded segmentation (tools/cmd_segment.cpp); docs/DISTRIBUTED.md.
//
//   Communicator& w = world();      // MPI when started by a launcher, else one rank
//   w.rank(), w.size(), w.local_rank()
//   w.allreduce(p, n, Reduce::mean, stream)   // in place, every rank gets the same bytes
//   w.sum_host(values)                        // doubles on the host: totals, counts
//   w.broadcast_host(p, bytes, root), w.barrier(), w.abort(code)
//
// world() is created once per process. It is MPI (runtime/comm_mpi.cpp, built when CMake finds
// an MPI library: LC_HAVE_MPI) when the process was started by a launcher (the environment holds
// OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), else a single rank whose collectives are no-ops.
// Its allreduce works on HOST memory (the cpu and sim backends). On cuda/cudnn the gradients live
// in device memory: make_device_communicator() returns an NCCL communicator over the same ranks
// (runtime/comm_nccl_cuda.cpp, built with LC_WITH_CUDA), whose allreduce is enqueued on the
// backend's stream and may be captured into a CUDA Graph.
//
// Bit-identical results on every rank: the MPI allreduce is MPI_Allreduce (OpenMPI's algorithms
// give every rank the same bytes for a commutative sum; the trainer's LC_DIST_CHECK=1 verifies
// it after every step); sum_host reduces on rank 0 and broadcasts, so every rank gets exactly
// rank 0's result; mean = sum, then multiplied by 1/size.
//
// Dead ranks: every collective of the MPI communicator runs under a watchdog. A collective that
// has not completed after LC_COMM_TIMEOUT seconds (default 300) prints
//   landcover: error: rank R: <what> got no answer from the other ranks for N s (a rank died or hangs)
// and ends the process with status 1, so the launcher ends the job. A SIGTERM from the launcher
// (OpenMPI's mpirun sends one to the survivors when a rank dies) prints one line and exits 1.
// Depends on: kernels/common/types.h (stream_t); MPI (comm_mpi.cpp), NCCL (comm_nccl_cuda.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/types.h"

namespace lc {

enum class Reduce { sum, mean };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;   // rank among the ranks of this node (GPU choice)
  virtual std::string name() const = 0; // "single", "mpi", "nccl"
  // n floats at `data`, in place: host memory (single, mpi) or device memory on `stream` (nccl).
  virtual void allreduce(float* data, std::int64_t n, Reduce op, stream_t stream) = 0;
  // Sums of host doubles, exactly rank 0's result on every rank.
  virtual void sum_host(std::vector<double>& values) = 0;
  virtual void broadcast_host(void* data, std::size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job with status `code` (one rank: exits).
  [[noreturn]] virtual void abort(int code) = 0;
};

// The process's ranks (see above).
Communicator& world();
// Whether this build has the MPI communicator (CMake found MPI).
bool mpi_built_in();
// Sharding: item i of a list belongs to rank i % size (round robin: similar items balance).
bool owns(const Communicator& c, std::int64_t item);
// An integer summed over the ranks (every rank gets the sum).
std::int64_t sum_over_ranks(Communicator& c, std::int64_t value);
// "rank R: " when the job has more than one rank, else "" (prefix of error lines).
std::string rank_prefix();
// For cuda/cudnn: an NCCL communicator over world()'s ranks; for host backends, or one rank:
// nullptr (use world()). Needs LC_WITH_CUDA for NCCL; without it, more than one rank on a GPU
// backend is an error.
std::unique_ptr<Communicator> make_device_communicator(bool gpu_backend);
// The GPU a cuda/cudnn Backend of this process uses: local_rank % visible GPUs (0 for one rank,
// or where a launcher gives each rank one GPU through CUDA_VISIBLE_DEVICES).
int local_gpu_ordinal();

namespace detail {
// The watchdog of the MPI communicator (runtime/comm.cpp): arm before a collective, disarm after.
void watchdog_arm(const char* what);
void watchdog_disarm();
// Installs the SIGTERM/SIGINT handler that prints one line and exits 1 (jobs of several ranks).
void install_stop_handler(int rank);
std::unique_ptr<Communicator> make_single();
std::unique_ptr<Communicator> make_mpi();  // nullptr without LC_HAVE_MPI
std::unique_ptr<Communicator> make_nccl(Communicator& world);  // LC_WITH_CUDA only
}  // namespace detail

}  // namespace lc
