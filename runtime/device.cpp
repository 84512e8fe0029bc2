// Device base (transfer counters) and the host-memory devices used by sim and cpu.
#include "runtime/device.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/common/check.h"

namespace lc {

void Device::copy_h2d(void* dst, const void* src, std::size_t bytes, stream_t s) {
  calls_[0]++, bytes_[0] += bytes;
  do_copy(Dir::h2d, dst, src, bytes, s);
}
void Device::copy_d2h(void* dst, const void* src, std::size_t bytes, stream_t s) {
  calls_[1]++, bytes_[1] += bytes;
  do_copy(Dir::d2h, dst, src, bytes, s);
}
void Device::copy_d2h_async(void* dst, const void* src, std::size_t bytes, stream_t s) {
  calls_[1]++, bytes_[1] += bytes;
  do_copy(Dir::d2h_async, dst, src, bytes, s);
}
void Device::copy_d2d(void* dst, const void* src, std::size_t bytes, stream_t s) {
  calls_[2]++, bytes_[2] += bytes;
  do_copy(Dir::d2d, dst, src, bytes, s);
}

TransferCounts Device::counts() const {
  TransferCounts c;
  c.h2d_calls = calls_[0], c.h2d_bytes = bytes_[0];
  c.d2h_calls = calls_[1], c.d2h_bytes = bytes_[1];
  c.d2d_calls = calls_[2], c.d2d_bytes = bytes_[2];
  return c;
}

void Device::reset_counts() {
  for (int i = 0; i < 3; ++i) calls_[i] = 0, bytes_[i] = 0;
}

namespace {

// Events on a host device hold a time point; the work before them has completed already.
struct HostEvent {
  std::chrono::steady_clock::time_point t;
};

class HostMemoryDevice final : public Device {
 public:
  explicit HostMemoryDevice(DeviceKind kind) : kind_(kind) {}
  DeviceKind kind() const override { return kind_; }
  std::string name() const override { return kind_ == DeviceKind::sim ? "sim (host SIMT emulator)" : "host"; }

  void* alloc(std::size_t bytes) override {
    if (bytes == 0) bytes = 1;
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    LC_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    return p;
  }
  void free(void* p) override { std::free(p); }
  void memset(void* dst, int value, std::size_t bytes, stream_t) override { std::memset(dst, value, bytes); }

  stream_t create_stream() override { return reinterpret_cast<stream_t>(new char); }
  void destroy_stream(stream_t s) override { delete reinterpret_cast<char*>(s); }
  void synchronize(stream_t) override {}

  CUevent_st* create_event() override { return reinterpret_cast<CUevent_st*>(new HostEvent{}); }
  void destroy_event(CUevent_st* e) override { delete reinterpret_cast<HostEvent*>(e); }
  void record_event(CUevent_st* e, stream_t) override {
    reinterpret_cast<HostEvent*>(e)->t = std::chrono::steady_clock::now();
  }
  void wait_event(CUevent_st*) override {}
  float elapsed_ms(CUevent_st* start, CUevent_st* stop) override {
    auto d = reinterpret_cast<HostEvent*>(stop)->t - reinterpret_cast<HostEvent*>(start)->t;
    return std::chrono::duration<float, std::milli>(d).count();
  }

 protected:
  void do_copy(Dir, void* dst, const void* src, std::size_t bytes, stream_t) override {
    if (bytes) std::memmove(dst, src, bytes);
  }

 private:
  DeviceKind kind_;
};

}  // namespace

std::unique_ptr<Device> make_sim_device() { return std::make_unique<HostMemoryDevice>(DeviceKind::sim); }
std::unique_ptr<Device> make_host_device() { return std::make_unique<HostMemoryDevice>(DeviceKind::host); }

}  // namespace lc
