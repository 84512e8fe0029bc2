// Tensor (see tensor.h).
#include "runtime/tensor.h"

#include "kernels/common/check.h"

namespace lc {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
  }
  return "?";
}

std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::string shape_string(const Shape& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out.empty() ? "scalar" : out;
}

Tensor Tensor::empty(Device& dev, Shape shape, DType dtype) {
  for (auto d : shape) LC_CHECK(d >= 0, "negative tensor dimension in ", shape_string(shape));
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.dev_ = &dev;
  t.data_ = dev.alloc(t.bytes());
  Device* d = &dev;
  t.storage_ = std::shared_ptr<void>(t.data_, [d](void* p) { d->free(p); });
  return t;
}

Tensor Tensor::zeros(Device& dev, Shape shape, DType dtype) {
  Tensor t = empty(dev, std::move(shape), dtype);
  dev.memset(t.data_, 0, t.bytes());
  dev.synchronize();
  return t;
}

Tensor Tensor::view_of(Device& dev, void* data, Shape shape, DType dtype) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.dev_ = &dev;
  t.data_ = data;
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  LC_CHECK(shape_numel(shape) == numel(), "cannot reshape ", shape_string(shape_), " to ", shape_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

void Tensor::upload(const void* host, stream_t s) {
  LC_CHECK(defined(), "upload to an undefined tensor");
  dev_->copy_h2d(data_, host, bytes(), s);
}

void Tensor::download(void* host, stream_t s) const {
  LC_CHECK(defined(), "download from an undefined tensor");
  dev_->copy_d2h(host, data_, bytes(), s);
}

std::int64_t NamedTensor::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

}  // namespace lc
