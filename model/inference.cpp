// Inference with a trained checkpoint (see inference.h).
// Depends on: model/inference.h, model/palette.h (class limit), kernels/image/image.h, model/raster.h (GDAL).
#include "model/inference.h"

#include "model/raster.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>

#include "kernels/common/check.h"
#include "kernels/image/image.h"
#include "model/model_spec.h"
#include "model/palette.h"

namespace lc {

LoadedModel load_inference_model(const std::string& path) {
  Checkpoint ck = load_checkpoint(path);
  LoadedModel m;
  m.origin = "checkpoint " + path;
  m.spec = parse_model_json(ck.model_json, m.origin + " model");
  const int classes = int(ck.class_names.size());
  LC_CHECK(classes >= 1 && classes <= kMaxPaletteClasses, m.origin, ": ", classes,
           " classes; classify and segment support 1..", kMaxPaletteClasses);
  for (const std::string& n : ck.class_names) LC_CHECK(!n.empty(), m.origin, ": a class has an empty name");
  LC_CHECK(ck.input_height == m.spec.height && ck.input_width == m.spec.width && ck.input_channels == m.spec.channels,
           m.origin, ": input shape ", ck.input_height, "x", ck.input_width, "x", ck.input_channels,
           " does not match its model's ", m.spec.height, "x", m.spec.width, "x", m.spec.channels);
  LC_CHECK(m.spec.channels == 3, m.origin, ": the model takes ", m.spec.channels,
           "-channel input; images are RGB (3 channels)");
  m.layers = validate_model(m.spec, classes, m.origin + " model");
  check_checkpoint_shapes(ck, m.layers, path);
  check_checkpoint_finite(ck, path);
  m.class_names = std::move(ck.class_names);
  m.params = std::move(ck.params);
  if (const std::string* g = ck.find_meta("gsd_m")) {  // absent in older checkpoints: the default
    std::size_t used = 0;
    try {
      m.gsd_m = std::stod(*g, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LC_CHECK(used == g->size() && m.gsd_m > 0, m.origin, ": bad gsd_m '", *g, "'");
  }
  return m;
}

LoadedModel make_untrained_model(const ModelSpec& spec, std::vector<std::string> class_names, std::uint64_t seed) {
  LoadedModel m;
  m.origin = "untrained " + spec.name;
  m.spec = spec;
  m.class_names = std::move(class_names);
  LC_CHECK(m.classes() >= 1 && m.classes() <= kMaxPaletteClasses, m.origin, ": ", m.classes(), " classes");
  LC_CHECK(spec.channels == 3, m.origin, ": the model must take RGB input");
  m.layers = validate_model(m.spec, m.classes(), m.origin);
  m.init_seed = seed;
  return m;
}

std::unique_ptr<Network> make_inference_network(const LoadedModel& model, Backend& backend, int batch,
                                                bool flat_inference) {
  LC_CHECK(batch >= 1 && batch <= 65536, "inference batch must be in 1..65536, got ", batch);
  NetworkOptions opt;
  opt.batch = batch;
  opt.training = false;
  opt.flat_inference = flat_inference;
  auto net = std::make_unique<Network>(model.spec, model.classes(), backend, opt);
  if (model.params.empty()) {
    net->init_parameters(model.init_seed);
    return net;
  }
  net->import_tensors(model.params, Network::TensorSet::params, model.origin);
  return net;
}

// ---- Input images ------------------------------------------------------------------------------

InputImage read_input_image(const std::string& path, const RasterOptions& opt) {
  RasterImage r = read_raster_image(path, opt);
  InputImage in;
  in.image = std::move(r.image);
  in.alpha = std::move(r.valid);
  return in;
}

InputImage read_input_image(const std::string& path) { return read_input_image(path, RasterOptions{}); }

// ---- Classification ----------------------------------------------------------------------------

namespace {
void do_resize_u8(BackendKind k, const ResizeArgs& a, const std::uint8_t* in, std::uint8_t* out, stream_t s) {
  LC_DISPATCH(k, resize_u8, a, in, out, s);
}
void do_gather(BackendKind k, const GatherBatchArgs& a, const std::uint8_t* d, const std::int32_t* idx, float* out,
               stream_t s) {
  LC_DISPATCH(k, gather_batch, a, d, idx, out, s);
}
}  // namespace

Classifier::Classifier(const LoadedModel& model, Backend& backend) : model_(model), backend_(backend) {
  net_ = make_inference_network(model, backend, 1);
  Device& dev = backend.device();
  zero_index_ = static_cast<std::int32_t*>(dev.alloc(sizeof(std::int32_t)));
  dev.memset(zero_index_, 0, sizeof(std::int32_t), backend.stream());
  resized_ = static_cast<std::uint8_t*>(dev.alloc(std::size_t(model.input_h()) * model.input_w() * 3));
  probs_ = static_cast<float*>(dev.alloc(std::size_t(model.classes()) * sizeof(float)));
}

Classifier::~Classifier() {
  Device& dev = backend_.device();
  dev.free(zero_index_);
  dev.free(resized_);
  dev.free(probs_);
}

Classification Classifier::classify(const RgbImage& img) {
  check_image_size(img.width, img.height, "image");
  LC_CHECK(img.rgb.size() == std::size_t(img.width) * std::size_t(img.height) * 3, "image: pixel buffer size");
  Device& dev = backend_.device();
  const stream_t s = backend_.stream();
  const BackendKind k = backend_.kind();
  const int H = model_.input_h(), W = model_.input_w(), C = 3;
  std::uint8_t* src = static_cast<std::uint8_t*>(dev.alloc(img.rgb.size()));
  struct Free {
    Device& d;
    void* p;
    ~Free() { d.free(p); }
  } free_src{dev, src};
  dev.copy_h2d(src, img.rgb.data(), img.rgb.size(), s);
  ResizeArgs ra;
  ra.in_h = img.height, ra.in_w = img.width, ra.out_h = H, ra.out_w = W, ra.channels = C;
  do_resize_u8(k, ra, src, resized_, s);
  GatherBatchArgs ga;
  ga.num_images = 1, ga.batch = 1, ga.height = H, ga.width = W, ga.channels = C, ga.augment = Augment::none;
  float* x = net_->input().data<float>();
  do_gather(k, ga, resized_, zero_index_, x, s);
  net_->predict(x, 1, probs_, nullptr);
  Classification c;
  c.probs.resize(std::size_t(model_.classes()));
  dev.copy_d2h(c.probs.data(), probs_, c.probs.size() * sizeof(float), s);
  backend_.synchronize();
  c.top = top_k(c.probs, 1).front();
  return c;
}

std::vector<int> top_k(const std::vector<float>& probs, int k) {
  std::vector<int> idx(probs.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return probs[std::size_t(a)] > probs[std::size_t(b)]; });
  idx.resize(std::size_t(std::clamp<int>(k, 0, int(idx.size()))));
  return idx;
}

}  // namespace lc
