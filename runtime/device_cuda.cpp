// The CUDA device (cuda and cudnn backends), over the CUDA runtime. Built only with LC_WITH_CUDA.
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#include "runtime/device.h"

namespace lc {

namespace {

std::string version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(int ordinal) : ordinal_(ordinal) {
    LC_CUDA_CHECK(cudaSetDevice(ordinal));
    cudaDeviceProp prop{};
    LC_CUDA_CHECK(cudaGetDeviceProperties(&prop, ordinal));
    name_ = prop.name;
  }
  DeviceKind kind() const override { return DeviceKind::cuda; }
  DeviceInfo info() const override {
    DeviceInfo d;
    d.name = name_;
    auto attr = [&](cudaDeviceAttr a) {
      int v = 0;
      return cudaDeviceGetAttribute(&v, a, ordinal_) == cudaSuccess ? v : 0;
    };
    d.cc_major = attr(cudaDevAttrComputeCapabilityMajor), d.cc_minor = attr(cudaDevAttrComputeCapabilityMinor);
    d.sm_count = attr(cudaDevAttrMultiProcessorCount);
    d.clock_khz = attr(cudaDevAttrClockRate), d.mem_clock_khz = attr(cudaDevAttrMemoryClockRate);
    d.mem_bus_bits = attr(cudaDevAttrGlobalMemoryBusWidth);
    d.l2_bytes = std::size_t(attr(cudaDevAttrL2CacheSize));
    std::size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) d.global_bytes = total_b;
    cudaGetLastError();
    return d;
  }
  std::string name() const override { return "cuda:" + std::to_string(ordinal_) + " (" + name_ + ")"; }

  void* alloc(std::size_t bytes) override {
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
    if (err != cudaSuccess) {
      cudaGetLastError();
      LC_FAIL("out of GPU memory allocating ", bytes, " bytes (", cudaGetErrorString(err), ")");
    }
    return p;
  }
  void free(void* p) override {
    if (p) cudaFree(p);
  }
  void* alloc_host(std::size_t bytes) override {
    void* p = nullptr;
    cudaError_t err = cudaMallocHost(&p, bytes ? bytes : 1);
    if (err != cudaSuccess) {
      cudaGetLastError();
      LC_FAIL("out of page-locked host memory allocating ", bytes, " bytes (", cudaGetErrorString(err), ")");
    }
    return p;
  }
  void free_host(void* p) override {
    if (p) cudaFreeHost(p);
  }
  void memset(void* dst, int value, std::size_t bytes, stream_t s) override {
    if (!s) LC_CUDA_CHECK(cudaDeviceSynchronize());  // the default stream: synchronous (device.h)
    LC_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, s));
    if (!s) LC_CUDA_CHECK(cudaDeviceSynchronize());
  }

  stream_t create_stream() override {
    cudaStream_t s;
    LC_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }
  void destroy_stream(stream_t s) override { cudaStreamDestroy(s); }
  void synchronize(stream_t s) override {
    if (s)
      LC_CUDA_CHECK(cudaStreamSynchronize(s));
    else
      LC_CUDA_CHECK(cudaDeviceSynchronize());
  }

  CUevent_st* create_event() override {
    cudaEvent_t e;
    LC_CUDA_CHECK(cudaEventCreate(&e));
    return e;
  }
  void destroy_event(CUevent_st* e) override { cudaEventDestroy(e); }
  void record_event(CUevent_st* e, stream_t s) override { LC_CUDA_CHECK(cudaEventRecord(e, s)); }
  void wait_event(CUevent_st* e) override { LC_CUDA_CHECK(cudaEventSynchronize(e)); }
  float elapsed_ms(CUevent_st* start, CUevent_st* stop) override {
    LC_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    LC_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return ms;
  }

 protected:
  void do_copy(Dir dir, void* dst, const void* src, std::size_t bytes, stream_t s) override {
    if (!bytes) return;
    const cudaMemcpyKind kind = dir == Dir::h2d                          ? cudaMemcpyHostToDevice
                                : dir == Dir::d2h || dir == Dir::d2h_async ? cudaMemcpyDeviceToHost
                                                                         : cudaMemcpyDeviceToDevice;
    // The default stream: synchronous with every stream (device.h). Without the first wait, a
    // pageable upload on the legacy stream can still be in flight when a kernel on a backend's
    // non-blocking stream reads the memory.
    if (!s) LC_CUDA_CHECK(cudaDeviceSynchronize());
    LC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
    // A device-to-host copy is complete when it returns, as callers read the result next.
    if (!s)
      LC_CUDA_CHECK(cudaDeviceSynchronize());
    else if (dir == Dir::d2h)
      LC_CUDA_CHECK(cudaStreamSynchronize(s));
  }

 private:
  int ordinal_;
  std::string name_;
};

}  // namespace

bool cuda_usable(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (why) {
      *why = err == cudaErrorInsufficientDriver ? "CUDA driver not found or too old"
             : err == cudaErrorNoDevice         ? "no CUDA-capable GPU"
                                                : std::string(cudaGetErrorString(err));
    }
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA-capable GPU";
    return false;
  }
  return true;
}

std::unique_ptr<Device> make_cuda_device(int ordinal) {
  std::string why;
  if (!cuda_usable(&why)) LC_FAIL("no usable GPU: ", why);
  return std::make_unique<CudaDevice>(ordinal);
}

std::string cuda_runtime_version() {
  int v = 0;
  return cudaRuntimeGetVersion(&v) == cudaSuccess ? version_string(v) : "";
}

std::string cuda_driver_version() {
  int v = 0;
  return cudaDriverGetVersion(&v) == cudaSuccess && v > 0 ? version_string(v) : "";
}

}  // namespace lc
