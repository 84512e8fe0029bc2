// Helpers for the SIMT emulator tests (tests/simt/*.cpp): a scoped Config override and the
// sanitizer-build detection for the death tests. Depends on: kernels/simt/simt.h, GoogleTest.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "kernels/simt/simt.h"

#if defined(__SANITIZE_ADDRESS__)
#define LC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LC_TEST_SANITIZED 1
#endif
#endif
#ifndef LC_TEST_SANITIZED
#define LC_TEST_SANITIZED 0
#endif

namespace lc::simt_test {

// Restores lc::simt::config() when the test ends (the suite also runs with LC_SIMT_REVERSE=1).
class ScopedConfig {
 public:
  ScopedConfig() : saved_(lc::simt::config()) {}
  ~ScopedConfig() { lc::simt::config() = saved_; }
  lc::simt::Config* operator->() { return &lc::simt::config(); }
  ScopedConfig(const ScopedConfig&) = delete;
  ScopedConfig& operator=(const ScopedConfig&) = delete;

 private:
  lc::simt::Config saved_;
};

// Runs f, expects an lc::Error whose message contains every one of `parts`; returns the message.
template <class F>
std::string expect_error(F&& f, std::initializer_list<const char*> parts) {
  std::string msg;
  try {
    f();
    ADD_FAILURE() << "expected an lc::Error";
  } catch (const lc::Error& e) {
    msg = e.what();
    for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
  }
  return msg;
}

}  // namespace lc::simt_test
