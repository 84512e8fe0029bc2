// The network description the runtime builds from: a model spec (plain data; model/model_spec.*
// parses it from the JSON model file), and the layer table that shape inference derives from it
// for a number of classes: every layer's input and output shape and its named parameters.
// Names: layer index = position in "layers" (0-based); parameters are `L<2-digit index>.<type>.<name>`
// (L00.batchnorm.gamma, L01.conv2d.kernel, L15.dense.bias, ...). Layouts (docs/ARCHITECTURE.md):
// conv kernel KRSC [filters][k][k][in_channels], dense kernel [in][out], batch-norm vectors [C].
// Depends on: kernels/common/check.h; shape inference calls the layer types (runtime/layer_type.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lc {

class LayerType;  // runtime/layer_type.h: one registered object per type (runtime/layers/)

// One layer of a model file. Only the fields of its type are meaningful.
struct LayerSpec {
  const LayerType* type = nullptr;
  // conv2d: `filters` output channels, square `kernel` x `kernel`, stride 1, padding `same`.
  int filters = 0;
  int kernel = 0;
  // conv2d, dense: fused ELU epilogue ("activation": "elu"); otherwise linear.
  bool elu = false;
  // dense: output units; kUnitsClasses stands for the number of classes of the data set.
  static constexpr int kUnitsClasses = -1;
  int units = 0;
  // dropout: rate of dropped units (inverted dropout: kept units scaled by 1 / (1 - rate)).
  float rate = 0.f;
  // batchnorm: Keras defaults (docs/MODEL.md).
  float epsilon = 1e-3f;
  float momentum = 0.99f;
};

struct ModelSpec {
  std::string name;
  int height = 0, width = 0, channels = 0;  // input image, NHWC
  std::vector<LayerSpec> layers;
};

// Per-image activation shape: an image H x W x C, or a flat vector of C features (then h = w = 1
// and flat = true; NHWC memory with H = W = 1 is the same bytes, so batch norm and dropout treat
// both alike).
struct ActShape {
  int h = 0, w = 0, c = 0;
  bool flat = false;
  std::int64_t numel() const { return std::int64_t(h) * w * c; }
  std::string str() const;  // "64x64x3" or "2048"
};

// How a parameter starts (Network::init_parameters; Keras' defaults, docs/MODEL.md): Glorot
// uniform U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), zeros, or ones.
struct ParamInit {
  enum Kind { zeros, ones, glorot_uniform } kind = zeros;
  double fan_in = 0, fan_out = 0;  // glorot_uniform
};

struct ParamInfo {
  std::string name;                  // "L01.conv2d.kernel"
  std::vector<std::int64_t> shape;   // e.g. {16, 5, 5, 3}
  bool trainable = true;             // false for batch-norm moving statistics
  ParamInit init;
  std::int64_t numel() const;
};

struct LayerInfo {
  int index = 0;
  LayerSpec spec;                    // with units resolved (never kUnitsClasses)
  ActShape in, out;
  std::vector<ParamInfo> params;     // trainable parameters, then non-trainable state
  std::string prefix() const;        // "L01.conv2d"
  std::string describe() const;      // "layer 1 (conv2d)" for error messages
  const char* type_name() const;     // "conv2d"
};

// Infers every layer's shapes for `classes` output classes. Throws lc::Error naming the layer for
// impossible shapes: conv2d / maxpool on a flat input or a too-small image, dense on an image
// (insert a flatten), even conv kernels, a last layer whose output is not a flat vector of
// `classes` logits, and so on.
std::vector<LayerInfo> infer_layers(const ModelSpec& spec, int classes);

// Totals over a layer table.
std::int64_t trainable_parameter_count(const std::vector<LayerInfo>& layers);
std::int64_t state_count(const std::vector<LayerInfo>& layers);  // non-trainable (moving statistics)

// Multiply-adds of one forward pass per image (convolutions and dense layers).
std::int64_t forward_macs_per_image(const std::vector<LayerInfo>& layers);

}  // namespace lc
