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

// The poison pattern of guard regions and not-yet-written outputs: the bytes of the float
// 0x7FF8A5A5 repeated, a quiet NaN with a payload. It cannot pass for a number: read as float it
// is NaN, as double (two copies, exponent 0x7FF) NaN too, as int32 2146996645, as uint8 no small value.
// (A single repeated byte such as 0xA5 reads as -2.87e-16 and passes for 0.)
inline unsigned char poison_byte(std::size_t i) {
  static constexpr unsigned char kBytes[4] = {0xA5, 0xA5, 0xF8, 0x7F};  // little-endian 0x7FF8A5A5
  return kBytes[i % 4];
}

// n elements of T on a device, surrounded by guard regions; the whole allocation starts poisoned
// (poison_byte), so an output element a kernel never writes reads as NaN. guards_intact() checks
// the guards after a kernel wrote the buffer; poison() re-poisons the elements (before a second
// call whose output must be compared with the first: a call that writes nothing must not pass).
// Every copy runs on the given stream (the backend's), so it is ordered with the kernels the test
// launches there (the backend's stream does not wait for the legacy default stream), and
// downloads synchronise that stream.
template <class T>
class Guarded {
 public:
  static constexpr std::size_t kGuard = 64;  // elements on each side
  Guarded(Device& dev, stream_t s, std::size_t n) : dev_(dev), s_(s), n_(n) {
    raw_ = static_cast<T*>(dev.alloc((n + 2 * kGuard) * sizeof(T)));
    std::vector<unsigned char> fill((n + 2 * kGuard) * sizeof(T));
    for (std::size_t i = 0; i < fill.size(); ++i) fill[i] = poison_byte(i);
    dev.copy_h2d(raw_, fill.data(), fill.size(), s_);
    dev.synchronize(s_);  // `fill` goes away when this returns
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
  // Overwrites the n elements with the poison pattern (the guards keep theirs).
  void poison() {
    std::vector<unsigned char> fill(n_ * sizeof(T));
    for (std::size_t i = 0; i < fill.size(); ++i) fill[i] = poison_byte(kGuard * sizeof(T) + i);
    dev_.copy_h2d(get(), fill.data(), fill.size(), s_);
    dev_.synchronize(s_);
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
    for (std::size_t at : {std::size_t(0), (kGuard + n_) * sizeof(T)}) {
      dev_.copy_d2h(g.data(), reinterpret_cast<unsigned char*>(raw_) + at, g.size(), s_);
      dev_.synchronize(s_);
      for (std::size_t i = 0; i < g.size(); ++i)
        if (g[i] != poison_byte(at + i)) return false;
    }
    return true;
  }

 private:
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

// The four instantiations of a parametrised suite, one per backend, under the prefixes Sim, Cpu,
// Cuda and Cudnn (tests/CMakeLists.txt labels tests by them):
//   LC_INSTANTIATE_PER_BACKEND(Suite[, name_generator])     parameter = the BackendKind
//   LC_INSTANTIATE_PER_BACKEND_CASES(Suite, cases[, name_generator])
//                                                  parameters = cases(kind), a std::vector
// Suites that run on fewer backends say so with explicit INSTANTIATE_TEST_SUITE_P lines.
#define LC_INSTANTIATE_PER_BACKEND_WITH_(suite, values_of, ...)                                       \
  INSTANTIATE_TEST_SUITE_P(Sim, suite, values_of(::lc::BackendKind::sim) __VA_OPT__(, ) __VA_ARGS__);   \
  INSTANTIATE_TEST_SUITE_P(Cpu, suite, values_of(::lc::BackendKind::cpu) __VA_OPT__(, ) __VA_ARGS__);   \
  INSTANTIATE_TEST_SUITE_P(Cuda, suite, values_of(::lc::BackendKind::cuda) __VA_OPT__(, ) __VA_ARGS__); \
  INSTANTIATE_TEST_SUITE_P(Cudnn, suite, values_of(::lc::BackendKind::cudnn) __VA_OPT__(, ) __VA_ARGS__)
#define LC_INSTANTIATE_PER_BACKEND(suite, ...) \
  LC_INSTANTIATE_PER_BACKEND_WITH_(suite, ::testing::Values __VA_OPT__(, ) __VA_ARGS__)
#define LC_INSTANTIATE_PER_BACKEND_CASES(suite, cases, ...)                                             \
  LC_INSTANTIATE_PER_BACKEND_WITH_(suite, [](::lc::BackendKind kind_) { return ::testing::ValuesIn(cases(kind_)); } \
                                   __VA_OPT__(, ) __VA_ARGS__)

// Name of a backend as a test-parameter prefix: "Sim", "Cpu", "Cuda", "Cudnn".
std::string label_of(BackendKind kind);

// Directory of the shared data (env LC_SHARED_DIR), or "" when unset.
std::string shared_dir();

}  // namespace lc::test
