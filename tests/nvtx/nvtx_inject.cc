// NVTX injection library for the tests (tests/nvtx/nvtx_test.cpp): loaded by the NVTX 3 headers
// when NVTX_INJECTION64_PATH names it, it replaces the core RangePushA / RangePushEx / RangePop
// entries and appends one line per call to the file named by LC_NVTX_LOG:
//   push <thread> <depth before the push> <name>
//   pop <thread> <depth after the pop>
// (fields separated by one tab; depth per thread; a pop with no open range is logged with depth -1).
// Built as a MODULE library (lc_nvtx_inject) by tests/CMakeLists.txt; named .cc so the tests/*/*.cpp
// glob of lc_tests does not compile it into the test executable.
// Depends on: the NVTX 3 headers of the CUDA toolkit (types only; no NVTX library exists to link).
#include <nvtx3/nvToolsExt.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::mutex g_mutex;
std::FILE* g_log = nullptr;
thread_local int t_depth = 0;

unsigned long thread_number() {
  return static_cast<unsigned long>(std::hash<std::thread::id>{}(std::this_thread::get_id()) & 0xffffffffu);
}

void log_push(const char* name) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_log) {
    std::fprintf(g_log, "push\t%lu\t%d\t%s\n", thread_number(), t_depth, name ? name : "(null)");
    std::fflush(g_log);
  }
  ++t_depth;
}

int NVTX_API push_a(const char* message) {
  log_push(message);
  return t_depth - 1;
}

int NVTX_API push_ex(const nvtxEventAttributes_t* attr) {
  std::string name = "(non-ascii)";
  if (attr && attr->messageType == NVTX_MESSAGE_TYPE_ASCII && attr->message.ascii) name = attr->message.ascii;
  log_push(name.c_str());
  return t_depth - 1;
}

int NVTX_API pop() {
  std::lock_guard<std::mutex> lock(g_mutex);
  const int depth = t_depth > 0 ? --t_depth : -1;
  if (g_log) {
    std::fprintf(g_log, "pop\t%lu\t%d\n", thread_number(), depth);
    std::fflush(g_log);
  }
  return depth;
}

}  // namespace

extern "C" NVTX_DYNAMIC_EXPORT int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get_export_table) {
  const char* path = std::getenv("LC_NVTX_LOG");
  if (!path || !*path) return 0;  // 0: injection failed; NVTX then turns every call into a no-op
  const auto* cb = static_cast<const NvtxExportTableCallbacks*>(get_export_table(NVTX_ETID_CALLBACKS));
  if (!cb || cb->struct_size < sizeof(NvtxExportTableCallbacks) || !cb->GetModuleFunctionTable) return 0;
  NvtxFunctionTable table = nullptr;
  unsigned int size = 0;
  if (!cb->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &table, &size) || !table) return 0;
  if (size <= NVTX_CBID_CORE_RangePop) return 0;
  g_log = std::fopen(path, "a");
  if (!g_log) return 0;
  *table[NVTX_CBID_CORE_RangePushA] = reinterpret_cast<NvtxFunctionPointer>(&push_a);
  *table[NVTX_CBID_CORE_RangePushEx] = reinterpret_cast<NvtxFunctionPointer>(&push_ex);
  *table[NVTX_CBID_CORE_RangePop] = reinterpret_cast<NvtxFunctionPointer>(&pop);
  return 1;
}
