// Test support shared by the kernel and runtime tests: random data, guarded device buffers,
// tolerance comparisons, and backends that skip (with the reason) where unusable.
// Depends on: runtime (Backend, Device), GoogleTest.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/backend.h"

namespace lc::test {

// Uniform floats in [lo, hi) from a fixed seed.
std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1.f, float hi = 1.f);

// The backend for a test, or nullptr after GTEST_SKIP() with the reason (call as
//   auto be = backend_or_skip(kind); if (!be) return;).
std::unique_ptr<Backend> backend_or_skip(BackendKind kind);

// n elements of T on a device, surrounded by guard regions holding a sentinel pattern; the guards
// are checked by guards_intact() after a kernel wrote the buffer. Every copy and memset runs on
// the given stream (the backend's), so it is ordered with the kernels the test launches there
// (the backend's stream does not wait for the legacy default stream), and downloads synchronise
// that stream.
template <class T>
class Guarded {
 public:
  static constexpr std::size_t kGuard = 64;  // elements on each side
  Guarded(Device& dev, stream_t s, std::size_t n) : dev_(dev), s_(s), n_(n) {
    raw_ = static_cast<T*>(dev.alloc((n + 2 * kGuard) * sizeof(T)));
    dev.memset(raw_, kSentinel, (n + 2 * kGuard) * sizeof(T), s_);
  }
  Guarded(Device& dev, stream_t s, const std::vector<T>& host) : Guarded(dev, s, host.size()) { upload(host); }
  Guarded(const Backend& be, std::size_t n) : Guarded(be.device(), be.stream(), n) {}
  Guarded(const Backend& be, const std::vector<T>& host) : Guarded(be.device(), be.stream(), host) {}
  ~Guarded() {
    dev_.synchronize(s_);  // no kernel may still use the memory
    dev_.free(raw_);
  }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;

  T* get() const { return raw_ + kGuard; }
  std::size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    EXPECT_EQ(host.size(), n_);
    dev_.copy_h2d(get(), host.data(), n_ * sizeof(T), s_);
    dev_.synchronize(s_);  // the host vector may go away when this returns
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    dev_.copy_d2h(host.data(), get(), n_ * sizeof(T), s_);
    dev_.synchronize(s_);
    return host;
  }
  // True when no byte of either guard region changed.
  bool guards_intact() const {
    std::vector<unsigned char> g(kGuard * sizeof(T));
    for (T* p : {raw_, raw_ + kGuard + n_}) {
      dev_.copy_d2h(g.data(), p, g.size(), s_);
      dev_.synchronize(s_);
      for (unsigned char c : g)
        if (c != kSentinel) return false;
    }
    return true;
  }

 private:
  static constexpr unsigned char kSentinel = 0xA5;
  Device& dev_;
  stream_t s_;
  std::size_t n_;
  T* raw_ = nullptr;
};

struct Tolerance {
  double atol = 0, rtol = 0;
};

// Passes when every element is finite where expected is, and |a - e| <= atol + rtol * |e|.
// On failure names `what`, the count of mismatches and the first few (index, actual, expected).
::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected,
                                     Tolerance tol, const std::string& what = "");

// Name of a backend as a test-parameter prefix: "Sim", "Cpu", "Cuda", "Cudnn".
std::string label_of(BackendKind kind);

// Directory of the shared data (env LC_SHARED_DIR), or "" when unset.
std::string shared_dir();

}  // namespace lc::test
