// The error checks: LC_CHECK names the failed condition; LC_CHECK_CALL, the base of the CUDA,
// cuDNN and cuBLAS checks, names the library, the call, the enclosing function, the status and the
// file and line, and evaluates its call exactly once.
#include <gtest/gtest.h>

#include <string>

#include "kernels/common/check.h"

namespace lc::test {
namespace {

int calls = 0;
int fake_library_call(int status) {
  ++calls;
  return status;
}
std::string describe_fake(int status) { return "FAKE_STATUS_" + std::to_string(status); }

void call_that_fails() { LC_CHECK_CALL("FakeLib", fake_library_call(7), 0, describe_fake); }

TEST(CpuCheck, CallCheckNamesLibraryCallFunctionStatusAndPlace) {
  calls = 0;
  try {
    call_that_fails();
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("FakeLib error in fake_library_call(7)", 0), 0u) << m;
    EXPECT_NE(m.find("(in call_that_fails)"), std::string::npos) << m;
    EXPECT_NE(m.find("FAKE_STATUS_7"), std::string::npos) << m;
    EXPECT_NE(m.find("(check_test.cpp:"), std::string::npos) << m;
  }
  EXPECT_EQ(calls, 1);
}

TEST(CpuCheck, CallCheckPassesOnSuccessAndEvaluatesOnce) {
  calls = 0;
  EXPECT_NO_THROW(LC_CHECK_CALL("FakeLib", fake_library_call(0), 0, describe_fake));
  EXPECT_EQ(calls, 1);
}

TEST(CpuCheck, CheckNamesTheCondition) {
  const int x = 3;
  try {
    LC_CHECK(x == 4, "x is ", x);
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("x is 3 [x == 4]", 0), 0u) << m;
  }
}

}  // namespace
}  // namespace lc::test
