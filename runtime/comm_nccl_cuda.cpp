// The NCCL communicator (see comm.h) for the cuda and cudnn backends: the ranks of world(), one
// GPU each (local_gpu_ordinal), joined by an NCCL unique id that rank 0 broadcasts over MPI. Its
// allreduce is one ncclAllReduce on the backend's stream (ncclAvg for the mean: no extra kernel),
// so it can be captured into the training step's CUDA Graph (NCCL >= 2.9 supports capture).
// Built only with LC_WITH_CUDA; NOT YET RUN ON A GPU (scripts/gpu_check.sh is to run it on a
// machine with two GPUs).
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>

#include "kernels/common/cuda_check.h"
#include "runtime/comm.h"

namespace lc {

namespace {

void nccl_check(ncclResult_t rc, const char* call) {
  if (rc == ncclSuccess) return;
  throw Error(rank_prefix() + call + " failed: " + ncclGetErrorString(rc));
}

class NcclComm final : public Communicator {
 public:
  explicit NcclComm(Communicator& world) : world_(world) {
    LC_CUDA_CHECK(cudaSetDevice(local_gpu_ordinal()));
    ncclUniqueId id{};
    if (world.rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    world.broadcast_host(&id, sizeof id, 0);
    nccl_check(ncclCommInitRank(&comm_, world.size(), id, world.rank()), "ncclCommInitRank");
  }
  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return world_.rank(); }
  int size() const override { return world_.size(); }
  int local_rank() const override { return world_.local_rank(); }
  std::string name() const override { return "nccl"; }
  void allreduce(float* data, std::int64_t n, Reduce op, stream_t stream) override {
    nccl_check(ncclAllReduce(data, data, std::size_t(n), ncclFloat32, op == Reduce::mean ? ncclAvg : ncclSum, comm_,
                             reinterpret_cast<cudaStream_t>(stream)),
               "ncclAllReduce");
  }
  void sum_host(std::vector<double>& v) override { world_.sum_host(v); }
  void broadcast_host(void* data, std::size_t bytes, int root) override { world_.broadcast_host(data, bytes, root); }
  void barrier() override { world_.barrier(); }
  [[noreturn]] void abort(int code) override {
    ncclCommAbort(comm_);
    comm_ = nullptr;
    world_.abort(code);
    std::exit(code);  // not reached
  }

 private:
  Communicator& world_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

namespace detail {
std::unique_ptr<Communicator> make_nccl(Communicator& world) { return std::make_unique<NcclComm>(world); }
}  // namespace detail

std::unique_ptr<Communicator> make_device_communicator(bool gpu_backend) {
  if (!gpu_backend || world().size() == 1) return nullptr;
  return detail::make_nccl(world());
}

int local_gpu_ordinal() {
  const Communicator& w = world();
  if (w.size() == 1) return 0;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) return 0;
  return w.local_rank() % count;
}

}  // namespace lc
