// Inference with a trained checkpoint: loading and checking it, building an inference Network with
// its weights, classifying whole images (`landcover classify`), and reading input images with
// their alpha channel and a size limit (classify and segment).
// Depends on: model/checkpoint.h, model/model_spec.h, model/image_io.h, runtime/graph.h,
// kernels/image/image.h (resize_u8, gather_batch), stb_image (declarations only; the implementation
// lives in model/image_io.cpp).
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

// The largest accepted image side (a full 10980x10980 Sentinel-2 tile fits) and the smallest.
inline constexpr int kMaxImageSide = 32768;
inline constexpr int kMinImageSide = 2;

// An RGB image and, when the file has an alpha channel (grey+alpha, RGBA), its alpha plane.
struct InputImage {
  RgbImage image;
  std::vector<std::uint8_t> alpha;  // empty, or width * height bytes (0 = transparent)
};

// Reads any image stb_image decodes. The size is read from the header first: a side above
// kMaxImageSide or below kMinImageSide is refused before decoding ("<path>: image is 1x1: ...").
// Unreadable / truncated / corrupt files throw "<path>: cannot read|decode: <reason>".
// Reads the file whole first (model/file_io.h read_file_bytes: a folder, FIFO or device is refused
// at once, never waited on). An allocation failure reads "cannot decode: out of memory (...)".
InputImage read_input_image(const std::string& path);
// The same on bytes in memory (`origin` names them in messages).
InputImage decode_input_image(const std::uint8_t* bytes, std::size_t size, const std::string& origin);
// The same checks for an image already in memory (tests).
void check_image_size(int width, int height, const std::string& origin);

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
