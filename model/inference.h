// Inference with a trained checkpoint: loading and checking it, building an inference Network with
// its weights, classifying whole images (`landcover classify`). Input images (alpha, size limits)
// are read by model/image_io.h.
// Depends on: model/checkpoint.h, model/model_spec.h, model/image_io.h, runtime/graph.h,
// kernels/image/image.h (resize_u8, gather_batch), model/raster.h (input images through GDAL).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "model/image_io.h"
#include "runtime/graph.h"

namespace lc {

// A model ready for inference: its spec, class names, layer table and weights (trainable
// parameters and batch-norm moving statistics, by runtime name).
struct LoadedModel {
  std::string origin;                    // "checkpoint /tmp/m.ckpt" (for messages)
  ModelSpec spec;
  std::vector<std::string> class_names;  // index = class
  std::vector<LayerInfo> layers;
  std::vector<NamedTensor> params;       // empty: random initialisation (benchmarks), see below
  std::uint64_t init_seed = 0;           // used when params is empty
  double gsd_m = 10;                     // ground sampling distance trained at (checkpoint meta gsd_m; 10 = EuroSAT)
  int classes() const { return int(class_names.size()); }
  int input_h() const { return spec.height; }
  int input_w() const { return spec.width; }
};

// Loads a checkpoint and checks that it can be used for inference here: the model JSON parses,
// the class names are 1..kMaxPaletteClasses non-empty names, the stored input shape equals the
// model's, the input is RGB (3 channels), every tensor is present with its shape. Throws one-line
// lc::Error messages starting with "checkpoint <path>: ".
LoadedModel load_inference_model(const std::string& checkpoint_path);
// An untrained model (Glorot initialisation with `seed`) for benchmarks and tests.
LoadedModel make_untrained_model(const ModelSpec& spec, std::vector<std::string> class_names, std::uint64_t seed);

// An inference Network (training = false) of batch `batch` with the model's weights uploaded
// (two host-to-device copies: the parameter buffer and the statistics buffer); flat_inference
// also plans Network::predict_flat.
std::unique_ptr<Network> make_inference_network(const LoadedModel& model, Backend& backend, int batch,
                                                bool flat_inference = false);

// ---- Input images ------------------------------------------------------------------------------

// InputImage, kMaxImageSide and check_image_size: model/image_io.h.
// Reads any raster GDAL reads, whole (model/raster.h: bands, scaling, nodata; `alpha` holds the
// nodata mask, 0 = nodata, the alpha value for an alpha channel). The size is read from the header
// first: a side above kMaxImageSide or below kMinImageSide is refused before decoding ("<path>:
// image is 1x1: ..."). A folder, FIFO or device is refused without blocking. Unreadable /
// truncated / corrupt files throw "<path>: cannot read|decode: <reason>".
struct RasterOptions;
InputImage read_input_image(const std::string& path, const RasterOptions& opt);
InputImage read_input_image(const std::string& path);  // default options

// ---- Classification ----------------------------------------------------------------------------

struct Classification {
  std::vector<float> probs;  // [classes]
  int top = 0;               // argmax
};

// Whole-image classification. The image is uploaded once (u8), resized on the device to the
// model's input with the exact integer resize (kernels/image resize_u8: area when shrinking,
// bilinear when enlarging; the filter that made the data sets), converted to float / 255 by the
// data set's gather (the same preprocessing as training), classified, and the probabilities
// downloaded once.
class Classifier {
 public:
  Classifier(const LoadedModel& model, Backend& backend);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  Classification classify(const RgbImage& img);
  const LoadedModel& model() const { return model_; }
  Network& network() { return *net_; }

 private:
  const LoadedModel& model_;
  Backend& backend_;
  std::unique_ptr<Network> net_;
  std::int32_t* zero_index_ = nullptr;  // device [1] = {0}: gather_batch's index
  std::uint8_t* resized_ = nullptr;     // device [H][W][3]
  float* probs_ = nullptr;              // device [classes]
};

// The `k` most probable classes, most probable first (ties: lower index first).
std::vector<int> top_k(const std::vector<float>& probs, int k);

}  // namespace lc
