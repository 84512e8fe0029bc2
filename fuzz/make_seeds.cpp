// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/): a small valid checkpoint,
// the seed network's JSON and a tiny model, a valid data cache for fuzz_data_cache's data set,
// and small PNG / JPEG / BMP / TGA images (RGB and RGBA). Usage: fuzz_make_seeds <fuzz/corpus>.
// Depends on: model/checkpoint.h, model/dataset.h, model/model_spec.h, model/image_io.h,
// stb_image_write (its implementation lives in model/image_io.cpp).
#include <cstdio>
#include <fstream>
#include <string>

#include "model/checkpoint.h"
#include "model/dataset.h"
#include "model/image_io.h"
#include "model/model_spec.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <fuzz/corpus>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const char* tiny = R"({"name": "tiny", "input": [4, 4, 3], "layers": [
  {"type": "batchnorm"}, {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"}, {"type": "flatten"}, {"type": "dropout", "rate": 0.5},
  {"type": "dense", "units": "classes"}]})";
  std::ofstream(dir + "/model_json/tiny.json") << tiny;
  std::ofstream(dir + "/model_json/eurosat_cnn.json") << lc::default_model_json();

  lc::Checkpoint c;
  c.model_json = tiny;
  c.class_names = {"a", "b"};
  c.input_height = c.input_width = 4, c.input_channels = 3;
  c.params = {{"L00.dense.kernel", {2, 2}, {0.5f, -1.f, 2.f, 0.25f}}, {"L00.dense.bias", {2}, {0.f, 1.f}}};
  c.adam.t = 3;
  c.adam.m = {{"L00.dense.kernel", {2, 2}, {0, 0, 0, 0}}};
  c.adam.v = c.adam.m;
  c.rng = {{"shuffle", "1 2 3"}};
  c.history.push_back({});
  c.meta = {{"complete", "0"}};
  lc::save_checkpoint(dir + "/checkpoint/small.ckpt", c);

  lc::Dataset ds;
  ds.class_names = {"a", "b"};
  ds.image_size = 4;
  ds.files = {"a/0.png", "b/0.png"};
  ds.labels = {0, 1};
  ds.skipped = {"b/1.png"};
  ds.fingerprint = 0x0123456789abcdefull;
  ds.pixels.assign(2 * ds.image_bytes(), 7);
  lc::write_cache_file(dir + "/data_cache/small.cache", ds);

  unsigned char px[6 * 5 * 4];
  for (int i = 0; i < 6 * 5 * 4; ++i) px[i] = static_cast<unsigned char>(i * 37);
  const std::string im = dir + "/image/";
  stbi_write_png((im + "rgb.png").c_str(), 6, 5, 3, px, 6 * 3);
  stbi_write_png((im + "rgba.png").c_str(), 6, 5, 4, px, 6 * 4);
  stbi_write_png((im + "grey.png").c_str(), 6, 5, 1, px, 6);
  stbi_write_jpg((im + "rgb.jpg").c_str(), 6, 5, 3, px, 90);
  stbi_write_bmp((im + "rgb.bmp").c_str(), 6, 5, 3, px);
  stbi_write_tga((im + "rgba.tga").c_str(), 6, 5, 4, px);
  return 0;
}
