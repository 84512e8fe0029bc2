// Tensor: a shape, a dtype and a pointer on one Device; owning (frees its memory when the last
// copy goes) or a view into another tensor's memory (or an arena). Activations are NHWC.
// Depends on: runtime/device.h.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device.h"

namespace lc {

enum class DType { f32, u8, i32 };
std::size_t dtype_size(DType t);
const char* dtype_name(DType t);

using Shape = std::vector<std::int64_t>;
std::int64_t shape_numel(const Shape& s);
std::string shape_string(const Shape& s);  // "16x64x64x3"

class Tensor {
 public:
  Tensor() = default;
  // Allocates uninitialised memory on `dev`.
  static Tensor empty(Device& dev, Shape shape, DType dtype = DType::f32);
  static Tensor zeros(Device& dev, Shape shape, DType dtype = DType::f32);
  // A non-owning tensor over memory that lives elsewhere (an arena, a workspace).
  static Tensor view_of(Device& dev, void* data, Shape shape, DType dtype = DType::f32);

  const Shape& shape() const { return shape_; }
  std::int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int rank() const { return int(shape_.size()); }
  DType dtype() const { return dtype_; }
  std::int64_t numel() const { return shape_numel(shape_); }
  std::size_t bytes() const { return std::size_t(numel()) * dtype_size(dtype_); }
  Device* device() const { return dev_; }
  bool defined() const { return dev_ != nullptr; }
  bool owning() const { return storage_ != nullptr; }

  void* data() const { return data_; }
  template <class T>
  T* data() const { return static_cast<T*>(data_); }

  // The same memory with another shape of the same element count.
  Tensor reshaped(Shape shape) const;

  // Copies between this tensor and host memory of bytes() bytes (counted by the Device).
  void upload(const void* host, stream_t s = nullptr);
  void download(void* host, stream_t s = nullptr) const;
  template <class T>
  std::vector<T> to_host(stream_t s = nullptr) const {
    std::vector<T> v(static_cast<std::size_t>(numel()));
    download(v.data(), s);
    return v;
  }

 private:
  Shape shape_;
  DType dtype_ = DType::f32;
  Device* dev_ = nullptr;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;
};

// A named host copy of one parameter or state tensor (checkpoints, Keras files, best-weights
// snapshots; Network::export_tensors / import_tensors).
struct NamedTensor {
  std::string name;                  // "L01.conv2d.kernel"
  std::vector<std::int64_t> shape;   // {16, 5, 5, 3}
  std::vector<float> data;           // prod(shape) values, row-major
  std::int64_t numel() const;
};

}  // namespace lc
