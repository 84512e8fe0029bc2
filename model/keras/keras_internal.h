// Internals of the Keras exchange (model/keras/keras.h): HDF5 files held in memory (keras_hdf5.cpp),
// the mapping between a Keras model config and a landcover model (keras_config.cpp).
// Depends on: HDF5 C library (serial), nlohmann_json, runtime/layers.h.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/layers.h"

namespace lc::keras {

// ---- HDF5 in memory ------------------------------------------------------------------------------

// A float array read from a dataset (any floating type, converted to float32), row-major.
struct Array {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

// Owns one HDF5 identifier (file, group, dataset, ...) and closes it.
class H5 {
 public:
  H5() = default;
  H5(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5() { reset(); }
  H5(H5&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5& operator=(H5&& o) noexcept {
    if (this != &o) reset(), id_ = o.id_, close_ = o.close_, o.id_ = -1;
    return *this;
  }
  H5(const H5&) = delete;
  H5& operator=(const H5&) = delete;
  hid_t id() const { return id_; }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// Whether the bytes start with the HDF5 signature.
bool is_hdf5(const std::vector<std::uint8_t>& bytes);
// Opens an HDF5 file image read-only (the core driver: nothing touches the disk). Throws
// "<origin>: not an HDF5 file" / "<origin>: HDF5 cannot open it (truncated or corrupt)".
H5 h5_open_image(const std::vector<std::uint8_t>& bytes, const std::string& origin);
// A new, empty HDF5 file in memory, and its bytes once written.
H5 h5_create_image();
std::vector<std::uint8_t> h5_image_bytes(hid_t file);

// Whether every component of a relative path exists ("layers/conv2d/vars").
bool h5_has(hid_t loc, const std::string& path);
H5 h5_open_group(hid_t loc, const std::string& path, const std::string& origin);
H5 h5_new_group(hid_t loc, const std::string& name);
// Names of the links in a group, in name order.
std::vector<std::string> h5_children(hid_t group);
bool h5_has_attr(hid_t obj, const char* name);
// A text attribute, scalar or 1-D, fixed or variable length (an empty non-text array gives {}).
std::vector<std::string> h5_attr_strings(hid_t obj, const char* name, const std::string& origin);
std::string h5_attr_string(hid_t obj, const char* name, const std::string& origin);
Array h5_read_array(hid_t loc, const std::string& path, const std::string& origin);
void h5_write_array(hid_t loc, const std::string& name, const std::vector<std::int64_t>& shape, const float* data);
// Variable-length UTF-8 text attributes (what h5py writes for Python strings).
void h5_write_attr(hid_t obj, const char* name, const std::string& value);
void h5_write_attr(hid_t obj, const char* name, const std::vector<std::string>& values);

// ---- Config <-> landcover model --------------------------------------------------------------------

// Where the weights of one landcover layer come from: the Keras layer and which of its optional
// weights exist.
struct LayerBinding {
  int lc_layer = 0;
  std::string keras_name, keras_class;
  bool bias = true;           // Conv2D / Dense use_bias
  bool center = true, scale = true;  // BatchNormalization beta / gamma
};

struct Translation {
  ModelSpec spec;             // the last dense has units = classes (kUnitsClasses)
  int classes = 0;
  std::vector<LayerBinding> bindings;  // layers with weights, in order
  std::vector<std::string> keras_layers;  // every Keras layer name in config order, input layer first
  std::vector<std::string> notes;         // what the import changed ("the final softmax ...")
};

// Maps a Keras model config ({"class_name": "Sequential" | "Functional", "config": {...}}) onto
// landcover's layers. Throws one line naming `origin` and the Keras layer for anything without an
// exact equivalent.
Translation translate_config(const nlohmann::json& model_config, const std::string& origin);

// The Keras layer names export uses (Keras's own naming: conv2d, conv2d_1, ...), one per landcover
// layer, and the Sequential config of a landcover model (softmax on the last dense, so Keras
// predicts probabilities as landcover does).
std::vector<std::string> keras_layer_names(const ModelSpec& spec);
nlohmann::json make_config(const ModelSpec& spec, const std::vector<LayerInfo>& layers);

}  // namespace lc::keras
