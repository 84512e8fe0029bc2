// `landcover segment --model FILE IMAGE...`: land-cover maps of whole images (model/segmenter.h):
// --mode pixel (colour-only, the seed's method, batched and deduplicated) or --mode window (each
// output cell classified from the 64x64 neighbourhood in the full image, tiled). For each input
// writes, under --out-dir, atomically and only after the input succeeded:
//   <stem>_classes.png    the class map, one palette colour per class (model/palette.h), nodata black
//   <stem>_overlay.png    the map (nearest) blended 50% over the image, with a legend
//   <stem>_fractions.csv  class,index,colour,pixels,percent (percents sum to 100; pixels of the input
//                         image in window mode, each map cell counting its block; of the resized
//                         image in pixel mode)
//   <stem>_fractions.json the same with the run's settings
//   <stem>_probs.npy      with --probs: float32 [map_h][map_w][classes] (NumPy .npy v1.0)
// and, for a georeferenced raster in window mode (model/geo.h):
//   <stem>_classes.tif    the class map as a COG in the input's CRS (+ .aux.xml: category names)
//   <stem>_probs.tif      with --probs: one band per class (Byte 0..255, or --probs-type float32)
//   <stem>_zones.csv/.gpkg with --zones: per-zone class areas (the table `correlate` joins on)
// where the fractions are areas on the ellipsoid (km2 column, percents of the valid area).
// Inputs are any raster GDAL reads (model/raster.h), read tile by tile (--bands, --scale, --gsd).
// It prints the class percentages. An input that fails (unreadable, truncated, too small or too
// large) prints one error line; the others go on, and the exit status is 1 at the end. Outputs of
// other inputs are never touched. --compare-naive (pixel mode) also times, on the same image, the
// batched colours on full-size patches and the seed's way (one batch-1 forward pass per pixel), and
// prints the speedups. Under mpirun/srun the inputs are shared out over the ranks (runtime/comm.h:
// input i to rank i % ranks); every input's outputs are the bytes a one-rank run writes.
// Depends on: model/segmenter.h, model/palette.h, model/output_set.h (the output layer), model/raster.h,
// model/geo.h, tools/segment_io.h, tools/progress.h, tools/command.h.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/geo.h"
#include "model/output_set.h"
#include "model/raster.h"
#include "model/segmenter.h"
#include "runtime/backend.h"
#include "runtime/comm.h"
#include "runtime/nvtx.h"
#include "tools/command.h"
#include "tools/progress.h"
#include "tools/segment_io.h"

namespace {

namespace fs = std::filesystem;

struct Options {
  std::string model;
  std::vector<std::string> images;
  std::string mode = "window";
  int size = 64, stride = 8, batch = 1024;
  std::int64_t tile_windows = 0;
  std::string nodata;
  bool no_alpha = false;
  std::string out_dir = ".";
  bool probs = false;
  std::string backend = "auto";
  bool compare_naive = false;
  std::int64_t naive_pixels = 0;
  bool quiet = false;
  std::string bands, scale, zones, zone_id, date, probs_type = "byte";
  double gsd = 0;
};

std::string stem_of(const std::string& path) { return fs::path(path).stem().string(); }

// The files one input writes; `geo`: a georeferenced raster in window mode, which adds the
// GeoTIFFs (with their GDAL .aux.xml sidecars) and the zone tables.
std::vector<std::string> output_paths(const Options& o, const std::string& stem, bool geo) {
  std::vector<std::string> suffixes{"_classes.png", "_overlay.png", "_fractions.csv", "_fractions.json"};
  if (o.probs) suffixes.push_back("_probs.npy");
  if (geo) {
    suffixes.insert(suffixes.end(), {"_classes.tif", "_classes.tif.aux.xml"});
    if (o.probs) suffixes.insert(suffixes.end(), {"_probs.tif", "_probs.tif.aux.xml"});
    if (!o.zones.empty()) suffixes.insert(suffixes.end(), {"_zones.csv", "_zones.gpkg"});
  }
  std::vector<std::string> p;
  for (const std::string& suffix : suffixes) p.push_back((fs::path(o.out_dir) / (stem + suffix)).string());
  return p;
}

void segment_one(const Options& o, const lc::LoadedModel& model, lc::Segmenter& seg, const std::string& path,
                 const std::string& stem) {
  LC_NVTX_RANGE("image ", stem);
  lc::RasterReader src(path, lc::tools::raster_options(o.bands, o.scale, o.gsd, !o.no_alpha));
  const lc::GeoRef& geo = src.geo();
  const bool window = o.mode == "window", geo_out = window && geo.georeferenced;
  LC_CHECK(o.zones.empty() || geo_out, path, ": --zones needs a georeferenced raster (a CRS and a geotransform) and --mode window");
  if (!geo.georeferenced) std::printf("%s: no CRS or geotransform: the outputs are not georeferenced\n", path.c_str());
  lc::tools::warn_gsd(o.gsd, model, src);
  lc::SegmentOptions so;
  so.mode = window ? lc::SegmentMode::window : lc::SegmentMode::pixel;
  so.size = o.size, so.stride = o.stride, so.tile_windows = o.tile_windows;
  so.use_alpha = !o.no_alpha;
  if (!o.nodata.empty()) so.has_nodata_rgb = true, so.nodata_rgb = lc::tools::parse_rgb(o.nodata);
  so.want_probs = o.probs;
  const fs::path dir(o.out_dir);
  auto out = [&](const std::string& suffix) { return (dir / (stem + suffix)).string(); };
  // One set per input: it appears whole, after the input succeeded, or not at all.
  lc::OutputSet outputs;
  for (const std::string& p : output_paths(o, stem, geo_out)) outputs.add(p, "output");
  outputs.open();
  lc::AtomicFile* probs_file = nullptr;
  std::unique_ptr<lc::ProbsRaster> probs_tif;
  const int K = model.classes();
  if (o.probs) {
    // Streamed into the temporary file tile by tile; renamed into place only after success.
    std::int64_t mh = o.size, mw = o.size;
    if (window) mh = (src.height() + o.stride - 1) / std::max(o.stride, 1), mw = (src.width() + o.stride - 1) / std::max(o.stride, 1);
    if (geo_out) probs_tif = std::make_unique<lc::ProbsRaster>(mh, mw, model.class_names, o.probs_type == "float32");
    probs_file = &outputs.stream(out("_probs.npy"));
    const std::string h = lc::tools::npy_header({mh, mw, K});
    probs_file->write(h.data(), h.size());
    so.probs_sink = [&](std::int64_t first, std::int64_t cells, const float* p) {
      probs_file->write(p, std::size_t(cells) * std::size_t(K) * sizeof(float));
      if (probs_tif) probs_tif->add(first, cells, p);
    };
  }
  // The bar starts with the work (its size is known at the first report), so its rate is the run's.
  std::unique_ptr<lc::tools::Progress> bar;
  if (!o.quiet) {
    bar = std::make_unique<lc::tools::Progress>(stem, 0, so.mode == lc::SegmentMode::window ? "win" : "colour");
    so.progress = [&](std::int64_t done, std::int64_t total) {
      bar->set_total(total);
      bar->update(done);
    };
  }
  const lc::SegmentResult r = seg.segment(src, so);
  if (bar) bar->finish();
  bar.reset();

  lc::AreaResult areas;
  if (geo_out) areas = lc::compute_areas(r, K, geo, src.height(), src.width(), lc::ZoneSpec{o.zones, o.zone_id});
  const lc::Fractions f = geo_out ? lc::compute_area_fractions(model.class_names, r.pixels, areas.class_km2, areas.nodata_km2)
                                  : lc::compute_fractions(model.class_names, r.pixels);
  const std::string date = o.date.empty() ? geo.date : o.date;
  nlohmann::ordered_json meta;
  meta["image"] = path, meta["width"] = src.width(), meta["height"] = src.height(), meta["mode"] = o.mode;
  if (window) meta["stride"] = o.stride, meta["border"] = "reflect101";
  else meta["size"] = o.size;
  meta["map_width"] = r.map_w, meta["map_height"] = r.map_h, meta["model"] = o.model;
  meta["nodata_colour"] = lc::colour_hex(lc::kNodataColour);
  meta["input"] = src.describe();
  if (geo.georeferenced) meta["crs"] = geo.crs_name, meta["date"] = date;

  const std::vector<std::uint8_t> map_rgb = lc::colour_map(r.cls, r.valid, K);
  const std::vector<std::uint8_t> classes_png = lc::encode_png(int(r.map_w), int(r.map_h), 3, map_rgb.data());
  int ov_stride = r.stride;
  const lc::RgbImage base = lc::tools::overlay_base(src, ov_stride);
  const lc::RgbImage overlay = lc::render_overlay(base, r.cls, r.valid, r.map_h, r.map_w, ov_stride, f);
  const std::vector<std::uint8_t> overlay_png = lc::encode_png(overlay.width, overlay.height, 3, overlay.rgb.data());
  const std::string csv = lc::fractions_csv(f);
  const std::string json = lc::fractions_json(f, meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  const std::string zones_csv = o.zones.empty() ? "" : lc::zones_csv(areas, model.class_names, date);

  // Everything computed: stage the files (GDAL's first), then commit the set.
  if (geo_out) lc::write_classes_cog(out("_classes.tif"), r, model.class_names, geo, outputs);
  if (probs_tif) probs_tif->write(out("_probs.tif"), geo, r.stride, outputs);
  if (!o.zones.empty()) lc::write_zones_gpkg(out("_zones.gpkg"), areas, model.class_names, date, outputs);
  if (!o.zones.empty()) outputs.stage(out("_zones.csv"), zones_csv);
  outputs.stage(out("_classes.png"), classes_png.data(), classes_png.size());
  outputs.stage(out("_overlay.png"), overlay_png.data(), overlay_png.size());
  outputs.stage(out("_fractions.csv"), csv);
  outputs.stage(out("_fractions.json"), json);
  outputs.commit();

  const lc::SegmentStats& st = r.stats;
  const char* unit = so.mode == lc::SegmentMode::pixel ? "colours" : "windows";
  std::printf("%s: %dx%d, %s mode, map %lldx%lld, %lld forward passes in %.3f s (%.0f %s/s) on %s, %lld tiles\n",
              path.c_str(), int(src.width()), int(src.height()), o.mode.c_str(), static_cast<long long>(r.map_w),
              static_cast<long long>(r.map_h), static_cast<long long>(st.forwards), st.seconds,
              st.seconds > 0 ? double(st.forwards) / st.seconds : 0.0, unit, seg.network().backend().name(),
              static_cast<long long>(st.tiles));
  for (const lc::ClassFraction& c : f.classes) {
    if (c.pixels > 0 && f.has_area)
      std::printf("  %-22s %8.4f%%  %12.4f km2  (%lld px)\n", c.name.c_str(), c.percent(), c.km2, static_cast<long long>(c.pixels));
    else if (c.pixels > 0)
      std::printf("  %-22s %8.4f%%  (%lld px)\n", c.name.c_str(), c.percent(), static_cast<long long>(c.pixels));
  }
  if (f.nodata > 0) std::printf("  %-22s %lld px excluded\n", "(nodata)", static_cast<long long>(f.nodata));
  std::printf("  outputs: %s_{classes,overlay}.png, %s_fractions.{csv,json}%s%s%s%s\n", out("").c_str(), out("").c_str(),
              o.probs ? (", " + out("_probs.npy")).c_str() : "", geo_out ? ", _classes.tif (" : "",
              geo_out ? geo.crs_name.c_str() : "", geo_out ? (o.probs ? ", _probs.tif)" : ")") : "");
  if (!o.zones.empty()) std::printf("  zones: %zu in %s_zones.{csv,gpkg}\n", areas.zones.size(), out("").c_str());
  std::fflush(stdout);

  if (o.compare_naive && so.mode == lc::SegmentMode::pixel) {
    // The same colours on full-size patches (no reduced evaluation), then the seed's way.
    lc::SegmentOptions full = so;
    full.reduce_flat = false, full.want_probs = false, full.progress = nullptr;
    lc::InputImage in;
    in.image = src.read_reduced(int(src.width()), int(src.height()), nullptr);
    const lc::SegmentResult rf = seg.segment(in, full);
    std::int64_t same = 0;
    for (std::size_t p = 0; p < r.cls.size(); ++p) same += rf.cls[p] == r.cls[p];
    const std::int64_t n = std::int64_t(o.size) * o.size;
    const lc::Segmenter::NaiveRun nv = seg.naive_pixel(in.image, o.size, o.naive_pixels);
    const std::int64_t m = std::int64_t(nv.cls.size());
    std::int64_t agree = 0;
    for (std::int64_t p = 0; p < m; ++p) agree += nv.cls[std::size_t(p)] == r.cls[std::size_t(p)];
    const double naive_total = nv.seconds * double(n) / double(m);
    std::printf("  batched+deduplicated, full-size %dx%d patches: %.4f s (reduced patches %.2fx faster; classes agree "
                "on %lld/%lld pixels)\n",
                model.input_h(), model.input_w(), rf.stats.seconds, rf.stats.seconds / st.seconds,
                static_cast<long long>(same), static_cast<long long>(n));
    std::printf("  naive (one batch-1 forward pass per pixel): %lld of %lld pixels in %.3f s%s -> %.3f s for all; "
                "batched+deduplicated+reduced: %.4f s; speedup %.1fx; classes agree on %lld/%lld pixels\n",
                static_cast<long long>(m), static_cast<long long>(n), nv.seconds, m < n ? " (extrapolated)" : "",
                naive_total, st.seconds, naive_total / st.seconds, static_cast<long long>(agree),
                static_cast<long long>(m));
    std::fflush(stdout);
  }
}

void run_segment(const Options& o) {
  LC_CHECK(o.mode == "pixel" || o.mode == "window", "--mode must be pixel or window, got '", o.mode, "'");
  LC_CHECK(o.naive_pixels >= 0, "--naive-pixels must be >= 0");
  LC_CHECK(!o.compare_naive || o.mode == "pixel", "--compare-naive applies to --mode pixel");
  if (!o.nodata.empty()) (void)lc::tools::parse_rgb(o.nodata);  // usage errors before any work
  (void)lc::tools::raster_options(o.bands, o.scale, o.gsd, true);
  if (!o.date.empty()) lc::check_date(o.date);
  LC_CHECK(o.probs_type == "byte" || o.probs_type == "float32", "--probs-type must be byte or float32, got '", o.probs_type, "'");
  LC_CHECK(o.zone_id.empty() || !o.zones.empty(), "--zone-id needs --zones FILE");
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  LC_CHECK(fs::is_directory(o.out_dir), "--out-dir ", o.out_dir, ": cannot create: ", ec.message());
  // Every output name checked before any work (types, lengths, the folder writable).
  for (const std::string& path : o.images)
    for (const std::string& p : output_paths(o, stem_of(path), false)) lc::check_output_target(p, path + ": output");
  const lc::LoadedModel model = lc::load_inference_model(o.model);
  std::unique_ptr<lc::Backend> backend = lc::make_backend(o.backend);
  lc::Segmenter seg(model, *backend, o.batch);
  lc::Communicator& ranks = lc::world();
  std::map<std::string, std::string> stems;
  std::int64_t failed = 0;
  for (std::size_t i = 0; i < o.images.size(); ++i) {
    const std::string& path = o.images[i];
    try {
      const std::string stem = stem_of(path);
      auto [it, fresh] = stems.emplace(stem, path);
      if (!lc::owns(ranks, std::int64_t(i))) continue;
      LC_CHECK(fresh, path, ": its outputs (", stem, "_*) would overwrite those of ", it->second,
               "; segment it in another call or --out-dir");
      segment_one(o, model, seg, path, stem);
    } catch (const std::exception& e) {
      ++failed;
      std::fprintf(stderr, "landcover: error: %s\n", lc::tools::error_text(e, path).c_str());
    }
  }
  failed = lc::sum_over_ranks(ranks, failed);
  if (failed) throw lc::Error(std::to_string(failed) + " of " + std::to_string(o.images.size()) + " images failed");
}

void setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("segment", "Land-cover maps of images: class map, overlay, class fractions");
  cmd->add_option("--model", o->model, "Checkpoint written by `landcover train`")->required();
  cmd->add_option("images", o->images, "Rasters GDAL reads (GeoTIFF/COG, JPEG 2000, PNG, JPEG, ...)")->required();
  cmd->add_option("--mode", o->mode, "window (64x64 neighbourhood per output cell) | pixel (colour only)")
      ->capture_default_str();
  cmd->add_option("--size", o->size, "pixel mode: resize the image to SIZE x SIZE")->capture_default_str();
  cmd->add_option("--stride", o->stride, "window mode: output grid step in pixels")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Windows per forward pass on the device")->capture_default_str();
  cmd->add_option("--tile-windows", o->tile_windows, "window mode: windows per tile (0: 16 x batch)")
      ->capture_default_str();
  cmd->add_option("--nodata", o->nodata, "window mode: R,G,B colour excluded from the map and the fractions");
  cmd->add_flag("--no-alpha", o->no_alpha, "window mode: do not treat alpha == 0 as nodata");
  cmd->add_option("--out-dir", o->out_dir, "Folder for the outputs")->capture_default_str();
  cmd->add_flag("--probs", o->probs, "Also write <stem>_probs.npy (float32 [map_h][map_w][classes]) and, georeferenced, <stem>_probs.tif");
  cmd->add_option("--backend", o->backend, "auto | cuda | cudnn | sim | cpu")->capture_default_str();
  cmd->add_flag("--compare-naive", o->compare_naive,
                "pixel mode: also time one batch-1 forward pass per pixel (the seed's way) and print the speedup");
  cmd->add_option("--naive-pixels", o->naive_pixels, "--compare-naive: time the first N pixels and extrapolate (0: all)")
      ->capture_default_str();
  cmd->add_option("--bands", o->bands, "R,G,B band numbers (1-based; default: the red/green/blue bands, else 1,2,3)");
  cmd->add_option("--scale", o->scale, "LO,HI (or 6 values, one pair per band) mapped to 0..255, or auto (2nd..98th "
                                        "percentile); needed for non-Byte rasters");
  cmd->add_option("--gsd", o->gsd, "Resample the scene to this ground sampling distance in metres (GDAL warper)");
  cmd->add_option("--zones", o->zones, "grid:DEG (lon/lat cells) or a polygon file (GeoJSON, GeoPackage, Shapefile): "
                                       "writes <stem>_zones.csv and .gpkg");
  cmd->add_option("--zone-id", o->zone_id, "--zones FILE: the attribute naming each zone (default: the feature id)");
  cmd->add_option("--date", o->date, "Acquisition date YYYY-MM-DD for the zone table (default: from the raster's metadata)");
  cmd->add_option("--probs-type", o->probs_type, "byte (0..255) | float32: the type of <stem>_probs.tif")
      ->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "No progress bar");
  cmd->callback([o] { run_segment(*o); });
}

}  // namespace

LC_REGISTER_COMMAND(segment, setup);
