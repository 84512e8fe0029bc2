// Device: memory, copies, streams and events on one execution target, with transfer counters.
//   cuda  the CUDA runtime on a GPU (used by the cuda and cudnn backends)
//   sim   host memory standing in for GPU memory, for kernels run by the SIMT emulator
//   host  host memory for the cpu backend
// Every copy is counted by direction (calls and bytes) so tests can prove that no host<->device
// copy happens inside a training step or a segmentation batch. On sim and host, streams and
// events exist (work is synchronous there) so code using them runs unchanged.
// Depends on: kernels/common (types, checks).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/common/types.h"

struct CUevent_st;

namespace lc {

enum class DeviceKind { cuda, sim, host };

struct TransferCounts {
  std::uint64_t h2d_calls = 0, h2d_bytes = 0;
  std::uint64_t d2h_calls = 0, d2h_bytes = 0;
  std::uint64_t d2d_calls = 0, d2d_bytes = 0;
};

class Event;

// What a benchmark records about the hardware (zeros where the device has no such thing).
struct DeviceInfo {
  std::string name;                 // "NVIDIA H200", "host"
  int cc_major = 0, cc_minor = 0;   // compute capability
  int sm_count = 0;
  int clock_khz = 0;                // peak SM clock the driver reports (not the current clock)
  int mem_clock_khz = 0;            // peak memory clock
  int mem_bus_bits = 0;
  std::size_t l2_bytes = 0;         // L2 cache size (what a benchmark flushes between runs)
  std::size_t global_bytes = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual DeviceKind kind() const = 0;
  virtual std::string name() const = 0;
  virtual DeviceInfo info() const { return DeviceInfo{name()}; }

  // Memory (alignment at least 256 bytes). free(nullptr) is a no-op.
  virtual void* alloc(std::size_t bytes) = 0;
  virtual void free(void* p) = 0;
  virtual void memset(void* dst, int value, std::size_t bytes, stream_t s = nullptr) = 0;

  // Copies (and memset): asynchronous on a stream `s` where the device allows (cuda; d2h copies
  // complete before returning); synchronous otherwise. s == nullptr means "synchronous with all of
  // the device's work": on cuda, every stream is waited for first and the copy has completed when
  // the call returns. (The backends' streams are non-blocking: they do not wait for the legacy
  // default stream, so an asynchronous default-stream upload could race a kernel on them.)
  void copy_h2d(void* dst, const void* src, std::size_t bytes, stream_t s = nullptr);
  void copy_d2h(void* dst, const void* src, std::size_t bytes, stream_t s = nullptr);
  void copy_d2d(void* dst, const void* src, std::size_t bytes, stream_t s = nullptr);
  // A device-to-host copy that does NOT wait (counted as d2h): on cuda asynchronous on `s` when
  // dst is page-locked (alloc_host); complete once an event recorded after it has been waited
  // for (wait_event) or the stream synchronised. Synchronous on sim and host.
  void copy_d2h_async(void* dst, const void* src, std::size_t bytes, stream_t s);

  // Host memory for staging copies: page-locked (pinned) on cuda, so copies from and to it are
  // asynchronous DMA; ordinary aligned memory on sim and host. free_host(nullptr) is a no-op.
  virtual void* alloc_host(std::size_t bytes) { return alloc(bytes); }
  virtual void free_host(void* p) { free(p); }

  virtual stream_t create_stream() = 0;
  virtual void destroy_stream(stream_t s) = 0;
  virtual void synchronize(stream_t s = nullptr) = 0;

  virtual CUevent_st* create_event() = 0;
  virtual void destroy_event(CUevent_st* e) = 0;
  virtual void record_event(CUevent_st* e, stream_t s = nullptr) = 0;
  // The host waits until the work before a recorded event has completed.
  virtual void wait_event(CUevent_st* e) = 0;
  // Milliseconds between two recorded events (waits for the later one).
  virtual float elapsed_ms(CUevent_st* start, CUevent_st* stop) = 0;

  TransferCounts counts() const;
  void reset_counts();

 protected:
  enum class Dir { h2d, d2h, d2d, d2h_async };
  virtual void do_copy(Dir dir, void* dst, const void* src, std::size_t bytes, stream_t s) = 0;

 private:
  std::atomic<std::uint64_t> calls_[3] = {}, bytes_[3] = {};
};

// The emulated GPU (sim) and the host (cpu backend). Never fail to construct.
std::unique_ptr<Device> make_sim_device();
std::unique_ptr<Device> make_host_device();
// The GPU `ordinal`; throws lc::Error saying why when no usable GPU exists or CUDA is not built in.
std::unique_ptr<Device> make_cuda_device(int ordinal = 0);

// Whether a CUDA GPU is usable here; when not, `why` says why in a few words
// (e.g. "CUDA driver not found", "not compiled in (LC_WITH_CUDA=OFF)").
bool cuda_usable(std::string* why = nullptr);
// CUDA runtime and driver versions as "13.0" strings ("" where unknown).
std::string cuda_runtime_version();
std::string cuda_driver_version();

}  // namespace lc
