// Stream ordering of copies (runtime/device.h) and of the test harness's guarded buffers
// (tests/support/testing.h): the backends' streams are non-blocking, so work meant to run before
// a kernel on the backend's stream must be on that stream, or (default stream) synchronous with
// the whole device.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/support/testing.h"

namespace lc::test {
namespace {

// A sim device that records the stream of every copy and memset.
class RecordingDevice final : public Device {
 public:
  std::vector<stream_t> streams;
  DeviceKind kind() const override { return inner_->kind(); }
  std::string name() const override { return "recording " + inner_->name(); }
  void* alloc(std::size_t bytes) override { return inner_->alloc(bytes); }
  void free(void* p) override { inner_->free(p); }
  void memset(void* dst, int value, std::size_t bytes, stream_t s) override {
    streams.push_back(s);
    inner_->memset(dst, value, bytes, s);
  }
  stream_t create_stream() override { return inner_->create_stream(); }
  void destroy_stream(stream_t s) override { inner_->destroy_stream(s); }
  void synchronize(stream_t s) override { inner_->synchronize(s); }
  CUevent_st* create_event() override { return inner_->create_event(); }
  void destroy_event(CUevent_st* e) override { inner_->destroy_event(e); }
  void record_event(CUevent_st* e, stream_t s) override { inner_->record_event(e, s); }
  void wait_event(CUevent_st* e) override { inner_->wait_event(e); }
  float elapsed_ms(CUevent_st* a, CUevent_st* b) override { return inner_->elapsed_ms(a, b); }

 protected:
  void do_copy(Dir dir, void* dst, const void* src, std::size_t bytes, stream_t s) override {
    streams.push_back(s);
    if (dir == Dir::h2d) inner_->copy_h2d(dst, src, bytes, s);
    if (dir == Dir::d2h) inner_->copy_d2h(dst, src, bytes, s);
    if (dir == Dir::d2h_async) inner_->copy_d2h_async(dst, src, bytes, s);
    if (dir == Dir::d2d) inner_->copy_d2d(dst, src, bytes, s);
  }

 private:
  std::unique_ptr<Device> inner_ = make_sim_device();
};

// Row 4 of issue 14: the harness used to upload, fill its guards and download on the default
// stream while the kernels under test ran on the backend's non-blocking stream (unordered on a
// GPU). Every copy and memset of a Guarded buffer must go on the stream it was given.
TEST(SimGuarded, EveryCopyRunsOnTheBackendStream) {
  RecordingDevice dev;
  stream_t s = dev.create_stream();
  {
    Guarded<float> g(dev, s, std::vector<float>{1.f, 2.f, 3.f});
    g.upload({4.f, 5.f, 6.f});
    EXPECT_EQ(g.download(), (std::vector<float>{4.f, 5.f, 6.f}));
    EXPECT_TRUE(g.guards_intact());
  }
  ASSERT_GE(dev.streams.size(), 5u);  // guard fill, two uploads, download, two guard reads
  for (std::size_t i = 0; i < dev.streams.size(); ++i) EXPECT_EQ(dev.streams[i], s) << "operation " << i;
  dev.destroy_stream(s);
}

// On a GPU: a default-stream copy waits for work queued on a backend's non-blocking stream and
// has completed when it returns (device.h). The stream work is long (memsets over 1 GiB) so an
// unordered copy would see the old contents.
TEST(CudaDevice, DefaultStreamCopiesAreOrderedWithTheBackendStream) {
  auto be = backend_or_skip(BackendKind::cuda);
  if (!be) return;
  Device& dev = be->device();
  const std::size_t bytes = std::size_t(1) << 30;
  void* big = dev.alloc(bytes);
  dev.memset(big, 0, bytes);  // default stream: complete on return
  for (int i = 1; i <= 8; ++i) dev.memset(big, i, bytes, be->stream());  // queued, not waited for
  std::vector<unsigned char> tail(4096);
  dev.copy_d2h(tail.data(), static_cast<unsigned char*>(big) + bytes - tail.size(), tail.size());
  for (unsigned char c : tail) ASSERT_EQ(c, 8) << "the default-stream download ran before the stream's memsets";
  // Upload on the default stream, then read on the backend stream right away.
  std::vector<unsigned char> host(std::size_t(256) << 20, 0x5A);
  dev.copy_h2d(big, host.data(), host.size());
  void* copy = dev.alloc(host.size());
  dev.copy_d2d(copy, big, host.size(), be->stream());
  std::vector<unsigned char> back(host.size());
  dev.copy_d2h(back.data(), copy, back.size(), be->stream());
  EXPECT_EQ(back, host) << "a kernel-side read on the backend stream overtook the default-stream upload";
  dev.free(copy);
  dev.free(big);
}

}  // namespace
}  // namespace lc::test
