// Communicators (see comm.h): the one-rank communicator, world(), the collective watchdog and the
// stop handler. MPI is in comm_mpi.cpp, NCCL in comm_nccl_cuda.cpp.
#include "runtime/comm.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "kernels/common/check.h"

namespace lc {

namespace {

class SingleRank final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "single"; }
  void allreduce(float*, std::int64_t, Reduce, stream_t) override {}
  void sum_host(std::vector<double>&) override {}
  void broadcast_host(void*, std::size_t, int root) override {
    LC_CHECK(root == 0, "broadcast from rank ", root, " in a one-rank job");
  }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

// One watchdog thread per process, started with the first armed collective.
struct Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  const char* what = nullptr;  // the collective in progress, or null
  std::uint64_t generation = 0;
  bool started = false;
  int timeout_s = 300;

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return what != nullptr; });
      const std::uint64_t gen = generation;
      const bool finished = cv.wait_for(lock, std::chrono::seconds(timeout_s),
                                        [&] { return what == nullptr || generation != gen; });
      if (finished) continue;
      std::fprintf(stderr,
                   "landcover: error: %s%s got no answer from the other ranks for %d s (a rank died or hangs; "
                   "LC_COMM_TIMEOUT sets the limit)\n",
                   rank_prefix().c_str(), what, timeout_s);
      std::fflush(stderr);
      _exit(1);
    }
  }
};

Watchdog& watchdog() {
  static Watchdog* w = new Watchdog;  // never destroyed: its thread outlives static destruction
  return *w;
}

int stop_rank = -1;
void on_stop(int sig) {
  char line[200];
  const int n = std::snprintf(line, sizeof line,
                              "landcover: error: rank %d: stopped by signal %d from the launcher (another rank "
                              "failed or the job was cancelled)\n",
                              stop_rank, sig);
  if (n > 0) (void)!write(2, line, std::size_t(n));
  _exit(1);
}

}  // namespace

namespace detail {

std::unique_ptr<Communicator> make_single() { return std::make_unique<SingleRank>(); }
#if !LC_HAVE_MPI
std::unique_ptr<Communicator> make_mpi() { return nullptr; }  // built without MPI: one rank
#endif

void watchdog_arm(const char* what) {
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  if (!w.started) {
    if (const char* t = std::getenv("LC_COMM_TIMEOUT")) {
      const int v = std::atoi(t);
      if (v > 0) w.timeout_s = v;
    }
    std::thread([&w] { w.run(); }).detach();
    w.started = true;
  }
  w.what = what;
  ++w.generation;
  w.cv.notify_all();
}

void watchdog_disarm() {
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  w.what = nullptr;
  w.cv.notify_all();
}

void install_stop_handler(int rank) {
  stop_rank = rank;
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

}  // namespace detail

Communicator& world() {
  static std::unique_ptr<Communicator> w = [] {
    std::unique_ptr<Communicator> c;
    if (launched_by_mpi()) c = detail::make_mpi();
    if (!c) {
      // Several processes each training alone would all write the same outputs: refuse.
      for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
        if (const char* n = std::getenv(v); n && std::atoi(n) > 1)
          LC_FAIL("started by an MPI launcher as one of ", n, " ranks, but this landcover was built without MPI "
                  "(install libopenmpi-dev and rebuild; CMake finds it)");
      c = detail::make_single();
    }
    if (c->size() > 1) detail::install_stop_handler(c->rank());
    return c;
  }();
  return *w;
}

bool mpi_built_in() { return LC_HAVE_MPI != 0; }

bool owns(const Communicator& c, std::int64_t item) { return item % c.size() == c.rank(); }

std::int64_t sum_over_ranks(Communicator& c, std::int64_t value) {
  std::vector<double> v{double(value)};
  c.sum_host(v);
  return std::int64_t(v[0]);
}

std::string rank_prefix() {
  const Communicator& w = world();
  return w.size() > 1 ? "rank " + std::to_string(w.rank()) + ": " : "";
}

}  // namespace lc
