// Hostile cases below the commands (issue rows 7, 9, 14): a 10,000-class confusion matrix stays
// proportionate on the terminal and in its CSV; an image too large for the memory left is
// reported as out of memory (not as a corrupt file); the README's test command cannot run nothing.
// Depends on: model/metrics.h, model/inference.h, model/image_io.h, tests/support/files.h,
// GoogleTest, POSIX (fork, setrlimit).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "kernels/common/check.h"
#include "model/image_io.h"
#include "model/inference.h"
#include "model/metrics.h"
#include "model/model_spec.h"
#include "tests/support/files.h"

namespace lc {
namespace {

using test::read_text_file;
using test::TempDir;

TEST(CpuHostileMetrics, TenThousandClassesStayProportionate) {
  const int k = 10000;
  std::vector<std::string> names;
  for (int c = 0; c < k; ++c) names.push_back("class" + std::to_string(c));
  ConfusionMatrix cm(names);
  for (int c = 0; c < k; ++c) {
    cm.add(c, c);
    cm.add(c, (c + 1) % k);  // half right
  }
  cm.add(5, 7, 40);  // the largest confusion
  const std::string text = cm.format();
  EXPECT_LT(text.size(), 4096u) << text.substr(0, 400);
  EXPECT_NE(text.find("10000 classes"), std::string::npos) << text;
  EXPECT_NE(text.find("40  class5 -> class7"), std::string::npos) << text;
  EXPECT_NE(text.find("accuracy 49.90% (10000 / 20040)"), std::string::npos) << text;
  const std::string csv = cm.csv();
  EXPECT_LT(csv.size(), 1u << 20);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "truth,predicted,count");
  EXPECT_NE(csv.find("\nclass5,class7,40\n"), std::string::npos);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * k + 1);
  EXPECT_EQ(cm.total(), 2 * k + 40);
  EXPECT_EQ(cm.row_total(5), 42);
  EXPECT_EQ(cm.column_total(7), 42);
  // A small matrix keeps the full layout.
  ConfusionMatrix small({"a", "b"});
  small.add(0, 1, 3);
  EXPECT_NE(small.format().find("rows: true class"), std::string::npos);
  EXPECT_EQ(small.csv(), "truth\\predicted,a,b\na,0,3\nb,0,0\n");
}

TEST(CpuHostileImage, OutOfMemoryIsReportedAsSuch) {
  // A 10000x10000 PNG decodes into 300 MB; a child process limits its address space to what it
  // uses now plus 40 MB and reads it (large against any free memory the test process's heap may
  // already hold from earlier tests).
  TempDir dir("hostile_oom");
  const int side = 10000;
  std::vector<std::uint8_t> px(std::size_t(side) * side * 3, 0);
  write_png(dir.file("big.png"), side, side, 3, px.data());
  px.clear();
  px.shrink_to_fit();
  const pid_t p = ::fork();
  if (p == 0) {
    std::ifstream statm("/proc/self/statm");
    long pages = 0;
    statm >> pages;
    const rlim_t limit = rlim_t(pages) * rlim_t(::sysconf(_SC_PAGESIZE)) + (rlim_t(40) << 20);
    struct rlimit rl {limit, limit};
    ::setrlimit(RLIMIT_AS, &rl);
    std::string msg = "no error";
    try {
      (void)read_input_image(dir.file("big.png"));
    } catch (const Error& e) {
      msg = e.what();
    } catch (const std::bad_alloc&) {
      msg = "std::bad_alloc";
    }
    std::ofstream(dir.file("msg.txt")) << msg;
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(p, &status, 0);
  const std::string msg = read_text_file(dir.file("msg.txt"));
  EXPECT_NE(msg.find("big.png: cannot decode: out of memory (the 10000x10000 image needs at least"), std::string::npos)
      << msg;
}

// Found by fuzz_model_json: a number too large for a double escaped as a JSON library exception,
// without the file's name.
TEST(CpuHostileModelJson, NumberOverflowIsAOneLineErrorNamingTheFile) {
  try {
    (void)parse_model_json(R"({"name": "m", "input": [64, 64, 3], "layers": 22222222222222e2222})", "m.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.json: not valid JSON: "), std::string::npos) << e.what();
  }
}

// Found by fuzz_image in stb_image 2.27's JPEG decoder: a Huffman table of more than 256 codes
// (a write past its tables; the third file has FF fill bytes before SOI, which stb accepted) and
// a code its tables do not hold (a read far outside them); and in its PNG decoder, an IDAT chunk
// whose declared length made it ask for 2 GiB. Each must be refused cleanly.
TEST(CpuHostileImage, CraftedImagesAreRefused) {
  for (const char* name : {"regress-huffman-overflow.jpg", "regress-huffman-overflow-2.jpg",
                           "regress-huffman-overflow-3.jpg", "regress-stb-huff-decode-oob.jpg",
                           "regress-stb-png-idat-2gib.png"}) {
    const std::string path = std::string(LC_SOURCE_DIR) + "/fuzz/corpus/image/" + name;
    const std::string bytes = read_text_file(path);
    ASSERT_FALSE(bytes.empty()) << path;
    try {
      (void)decode_image_memory(bytes.data(), bytes.size(), "x.jpg");
      ADD_FAILURE() << name << " decoded";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("x.jpg: cannot decode: ", 0), 0u) << e.what();
    }
  }
}

TEST(CpuHostileScripts, TestCommandsCannotSilentlyRunNothing) {
  // scripts/test.sh configures with the tests on (an earlier scripts/main_job.sh configured them
  // off in the same build folder), and every ctest call fails when no test runs.
  const std::string test_sh = read_text_file(std::string(LC_SOURCE_DIR) + "/scripts/test.sh");
  const std::string ci = read_text_file(std::string(LC_SOURCE_DIR) + "/.ci/run");
  ASSERT_FALSE(test_sh.empty());
  ASSERT_FALSE(ci.empty());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(test_sh, m, std::regex(R"(\ncmake -S [^\n]*)")));
  EXPECT_NE(m.str().find("-DLC_BUILD_TESTS=ON"), std::string::npos) << m.str();
  int calls = 0;
  for (const std::string* text : {&test_sh, &ci}) {
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("ctest ") == std::string::npos || line.rfind("#", 0) == 0) continue;
      ++calls;
      EXPECT_NE(line.find("--no-tests=error"), std::string::npos) << line;
    }
  }
  EXPECT_GE(calls, 2);
}

}  // namespace
}  // namespace lc
