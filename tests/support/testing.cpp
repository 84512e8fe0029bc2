// Test support (see testing.h). Lives in tests/support so the tests CMake globs it with the tests.
#include "tests/support/testing.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace lc::test {

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::unique_ptr<Backend> backend_or_skip(BackendKind kind) {
  BackendStatus st = backend_status(kind);
  if (!st.usable) {
    // GTEST_SKIP() expands to `return ...;` (void): record the skip without returning from here.
    GTEST_MESSAGE_AT_(__FILE__, __LINE__,
                      ("backend " + std::string(backend_name(kind)) + " unusable here: " + st.why).c_str(),
                      ::testing::TestPartResult::kSkip);
    return nullptr;
  }
  return std::make_unique<Backend>(kind);
}

::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected,
                                     Tolerance tol, const std::string& what) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure()
           << what << ": size " << actual.size() << " != expected " << expected.size();
  std::size_t bad = 0;
  double worst = 0;
  std::ostringstream first;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    const bool finite_ok = std::isfinite(e) ? std::isfinite(a) : (std::isnan(e) ? std::isnan(a) : a == e);
    const double err = std::fabs(a - e);
    const bool ok = finite_ok && (!std::isfinite(e) || err <= tol.atol + tol.rtol * std::fabs(e));
    if (!ok) {
      if (bad < 5) first << "\n  [" << i << "] actual " << a << " expected " << e;
      ++bad;
    }
    if (std::isfinite(err) && err > worst) worst = err;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << actual.size()
                                       << " elements differ (atol " << tol.atol << ", rtol " << tol.rtol
                                       << ", worst abs error " << worst << ")" << first.str();
}

std::string label_of(BackendKind kind) {
  switch (kind) {
    case BackendKind::cpu: return "Cpu";
    case BackendKind::sim: return "Sim";
    case BackendKind::cuda: return "Cuda";
    case BackendKind::cudnn: return "Cudnn";
  }
  return "Unknown";
}

std::string shared_dir() {
  const char* d = std::getenv("LC_SHARED_DIR");
  return d ? std::string(d) : std::string();
}

}  // namespace lc::test
