// `landcover classify --model FILE IMAGE...`: whole-image classification with a trained
// checkpoint. Each image (any raster GDAL reads, model/raster.h: --bands and --scale as in segment;
// grey and palette images become RGB, alpha dropped) is read whole and resized to the model's input on the device (the data set's resize) and classified;
// prints the top class and the top-k with probabilities, or JSON with --json. An image that fails
// prints one error line and the others go on; the exit status is 1 when any failed.
// Depends on: model/inference.h, model/raster.h, tools/segment_io.h, runtime/backend.h, tools/command.h,
// nlohmann_json.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/inference.h"
#include "model/raster.h"
#include "runtime/backend.h"
#include "tools/command.h"
#include "tools/segment_io.h"

namespace {

struct Options {
  std::string model;
  std::vector<std::string> images;
  int top = 3;
  bool json = false;
  std::string backend = "auto";
  std::string bands, scale;
};

void run_classify(const Options& o) {
  LC_CHECK(o.top >= 1, "--top must be at least 1, got ", o.top);
  const lc::RasterOptions ro = lc::tools::raster_options(o.bands, o.scale, 0, true);
  const lc::LoadedModel model = lc::load_inference_model(o.model);
  std::unique_ptr<lc::Backend> backend = lc::make_backend(o.backend);
  lc::Classifier clf(model, *backend);
  const int k = std::min(o.top, model.classes());
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  int failed = 0;
  for (const std::string& path : o.images) {
    try {
      const lc::InputImage in = lc::read_input_image(path, ro);
      const lc::Classification c = clf.classify(in.image);
      const std::vector<int> best = lc::top_k(c.probs, k);
      if (o.json) {
        nlohmann::ordered_json j;
        j["image"] = path;
        j["width"] = in.image.width;
        j["height"] = in.image.height;
        j["class"] = model.class_names[std::size_t(c.top)];
        j["probability"] = c.probs[std::size_t(c.top)];
        nlohmann::ordered_json tops = nlohmann::ordered_json::array();
        for (int i : best)
          tops.push_back({{"class", model.class_names[std::size_t(i)]}, {"probability", c.probs[std::size_t(i)]}});
        j["top"] = tops;
        all.push_back(j);
      } else {
        std::printf("%s: %s (%.4f)", path.c_str(), model.class_names[std::size_t(c.top)].c_str(),
                    double(c.probs[std::size_t(c.top)]));
        std::printf("  top-%d:", k);
        for (int i : best)
          std::printf(" %s %.4f", model.class_names[std::size_t(i)].c_str(), double(c.probs[std::size_t(i)]));
        std::printf("\n");
        std::fflush(stdout);
      }
    } catch (const std::exception& e) {
      ++failed;
      std::fprintf(stderr, "landcover: error: %s\n", lc::tools::error_text(e, path).c_str());
      if (o.json) all.push_back({{"image", path}, {"error", lc::tools::error_text(e, path)}});
    }
  }
  // Names and paths are bytes: invalid UTF-8 is written as U+FFFD rather than losing the output.
  if (o.json) std::printf("%s\n", all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  if (failed) throw lc::Error(std::to_string(failed) + " of " + std::to_string(o.images.size()) + " images failed");
}

void setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("classify", "Classify whole images with a trained checkpoint");
  cmd->add_option("--model", o->model, "Checkpoint written by `landcover train`")->required();
  cmd->add_option("images", o->images, "Rasters GDAL reads (PNG, JPEG, GeoTIFF, JPEG 2000, ...)")->required();
  cmd->add_option("--bands", o->bands, "R,G,B band numbers (1-based; default: the red/green/blue bands, else 1,2,3)");
  cmd->add_option("--scale", o->scale, "LO,HI (or one pair per band) mapped to 0..255, or auto; needed for non-Byte rasters");
  cmd->add_option("--top", o->top, "Classes to list, most probable first")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON array (image, class, probability, top) instead of text");
  cmd->add_option("--backend", o->backend, "auto | cuda | cudnn | sim | cpu")->capture_default_str();
  cmd->callback([o] { run_classify(*o); });
}

}  // namespace

LC_REGISTER_COMMAND(classify, setup);
