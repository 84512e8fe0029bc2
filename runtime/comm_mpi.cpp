// The MPI communicator (see comm.h): MPI_COMM_WORLD of a job started by mpirun or srun. Built only
// when CMake finds MPI (LC_HAVE_MPI). Errors return codes (MPI_ERRORS_RETURN) and become
// lc::Error naming the call; every collective runs under the watchdog (comm.cpp).
// The C API only (OpenMPI and MPICH would otherwise pull in their deprecated C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "kernels/common/check.h"
#include "runtime/comm.h"

namespace lc {

namespace {

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  throw Error(rank_prefix() + call + " failed: " + std::string(text, std::size_t(len)));
}

// Arms the watchdog for the lifetime of one collective.
struct Armed {
  explicit Armed(const char* what) { detail::watchdog_arm(what); }
  ~Armed() { detail::watchdog_disarm(); }
  Armed(const Armed&) = delete;
  Armed& operator=(const Armed&) = delete;
};

class MpiComm final : public Communicator {
 public:
  MpiComm() {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    MPI_Comm node;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    check(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
    MPI_Comm_free(&node);
  }
  ~MpiComm() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "mpi"; }

  void allreduce(float* data, std::int64_t n, Reduce op, stream_t) override {
    Armed a("allreduce");
    // MPI counts are int: large buffers go in pieces.
    const std::int64_t piece = std::int64_t(1) << 30;
    for (std::int64_t at = 0; at < n; at += piece) {
      const int count = int(std::min(piece, n - at));
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    }
    if (op == Reduce::mean) {
      const float scale = 1.0f / float(size_);
      for (std::int64_t i = 0; i < n; ++i) data[i] *= scale;
    }
  }

  void sum_host(std::vector<double>& v) override {
    Armed a("sum");
    const int n = int(v.size());
    std::vector<double> out(v.size());
    check(MPI_Reduce(v.data(), out.data(), n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD), "MPI_Reduce");
    if (rank_ == 0) v = out;
    check(MPI_Bcast(v.data(), n, MPI_DOUBLE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  }

  void broadcast_host(void* data, std::size_t bytes, int root) override {
    Armed a("broadcast");
    LC_CHECK(bytes <= std::size_t(1) << 31, "broadcast of ", bytes, " bytes: too large");
    check(MPI_Bcast(data, int(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }

  void barrier() override {
    Armed a("barrier");
    check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

namespace detail {
std::unique_ptr<Communicator> make_mpi() { return std::make_unique<MpiComm>(); }
}  // namespace detail

}  // namespace lc
