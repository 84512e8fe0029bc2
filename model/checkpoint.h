// Training checkpoints: one versioned binary file holding everything needed to use a trained
// model (model file, class names, weights, batch-norm moving statistics) and to continue training
// exactly (Adam state, position, random state, early-stopping state, metrics history), protected by
// a CRC-32 and written atomically.
// Depends on: model/metrics.h (EpochMetrics), runtime/layers.h (ParamInfo, LayerInfo: shape checks),
// model/file_io.h (CRC-32, atomic files, reading), kernels/common/check.h.
//
// ---------------------------------------------------------------------------------------------
// File format, version 1. All integers little-endian, floats IEEE-754 little-endian (f32 binary32,
// f64 binary64); no padding or alignment anywhere.
//
//   Header, 28 bytes:
//     offset 0   u8[8]  magic "LCCKPT\0\0" (4C 43 43 4B 50 54 00 00)
//     offset 8   u32    format version (1)
//     offset 12  u32    flags, 0 in version 1 (reserved)
//     offset 16  u64    total file size in bytes, header and trailing checksum included
//     offset 24  u32    CRC-32 of bytes 0..23 (so a damaged size field is told from a truncation)
//   Sections, all ten, in this order; each is
//     u32 tag (four ASCII bytes, e.g. 'M','O','D','L'), u64 payload size in bytes, the payload:
//     "MODL"  str model JSON text (model/model_spec.h: model_to_json)
//     "CLAS"  u32 K, then K x str class name (index order = label order)
//     "SHAP"  i32 height, i32 width, i32 channels of the input image
//     "PARM"  tensor list: trainable parameters and batch-norm moving statistics, by their
//             runtime names (L01.conv2d.kernel, L00.batchnorm.moving_mean, ...)
//     "ADAM"  i64 t (updates applied), f64 lr, f64 beta1, f64 beta2, f64 epsilon,
//             tensor list m, tensor list v (empty, or one per trainable parameter, same names/shapes)
//     "POSN"  i64 epoch (epochs completed), i64 step (steps completed inside the next epoch; 0 at an
//             epoch boundary), i64 global_step (steps completed in total)
//     "RAND"  u64 seed, u32 R, then R x (str name, str state) (textual generator states)
//     "STOP"  f64 best_val_loss (+inf when none), i64 best_epoch (0 when none),
//             i64 epochs_without_improvement, tensor list best_weights (empty when not kept)
//     "HIST"  u32 E, then E x (i64 epoch, f64 loss, f64 accuracy, f64 val_loss, f64 val_accuracy,
//             f64 seconds, f64 images_per_s, f64 lr)
//     "META"  u32 M, then M x (str key, str value) (free-form settings: batch size, backend, ...)
//   Trailer, 4 bytes: u32 CRC-32 of every byte before it.
//
//   str:         u32 byte count n, then n bytes of UTF-8 (no terminator)
//   tensor list: u32 count, then count x tensor
//   tensor:      str name, u32 rank (<= 8), rank x i64 dimension (>= 0), then prod(dims) x f32
//                in row-major order of the dimensions (layouts: docs/ARCHITECTURE.md)
//   CRC-32:      the zlib / IEEE 802.3 CRC (model/file_io.h); crc32("123456789") = 0xCBF43926.
//
// Loading checks, in this order, and throws one-line lc::Error messages that start with
// "checkpoint <path>: ": cannot open; "bad magic: not a landcover checkpoint"; "unsupported version
// V (this build reads 1)"; "truncated (expected N bytes, file has M)"; "header checksum mismatch";
// "file has M bytes, the header says N" (trailing bytes); "checksum mismatch: the file is corrupt";
// then the structure of every section (tag, sizes, tensor data sizes, duplicate names, Adam and
// best-weight tensors matching the parameters), each naming the section and tensor.
// check_checkpoint_shapes compares with a model: "tensor L01.conv2d.kernel has shape 16x5x5x3, the
// model expects 32x5x5x3".
// ---------------------------------------------------------------------------------------------
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "model/file_io.h"
#include "model/metrics.h"
#include "runtime/layers.h"
#include "runtime/tensor.h"

namespace lc {

inline constexpr std::uint32_t kCheckpointVersion = 1;

struct CheckpointAdam {
  std::int64_t t = 0;  // updates applied so far (the bias-correction exponent of the next update is t + 1)
  double lr = 0, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7;
  std::vector<NamedTensor> m, v;  // empty, or one per trainable parameter (same names and shapes)
};

struct TrainPosition {
  std::int64_t epoch = 0;        // epochs completed
  std::int64_t step = 0;         // steps completed inside the next epoch (0 at an epoch boundary)
  std::int64_t global_step = 0;  // steps completed since training started
};

struct EarlyStopState {
  double best_val_loss = std::numeric_limits<double>::infinity();
  std::int64_t best_epoch = 0;                  // 0: none yet
  std::int64_t epochs_without_improvement = 0;
  std::vector<NamedTensor> best_weights;        // empty, or the same names/shapes as params
};

struct Checkpoint {
  std::string model_json;
  std::vector<std::string> class_names;
  int input_height = 0, input_width = 0, input_channels = 0;
  std::vector<NamedTensor> params;  // trainable parameters, then batch-norm moving statistics
  CheckpointAdam adam;
  TrainPosition position;
  std::uint64_t seed = 0;
  std::vector<std::pair<std::string, std::string>> rng;   // (name, textual state), see rng_state_text
  EarlyStopState early_stop;
  std::vector<EpochMetrics> history;
  std::vector<std::pair<std::string, std::string>> meta;  // free-form (key, value) settings

  // The tensor of that name in params, or nullptr.
  const NamedTensor* find_param(const std::string& name) const;
  // The value of a meta key or of an rng entry, or nullptr.
  const std::string* find_meta(const std::string& key) const;
  const std::string* find_rng(const std::string& name) const;
};

// Serialises (after the structural checks below, which throw naming `origin`) / parses the format
// above. parse_checkpoint performs every load check on bytes in memory.
std::vector<std::uint8_t> serialize_checkpoint(const Checkpoint& ckpt, const std::string& origin = "checkpoint");
Checkpoint parse_checkpoint(const std::uint8_t* bytes, std::size_t size, const std::string& origin);

// Writes atomically (write_file_atomic): after a crash or a failed write, `path` holds the
// previous checkpoint or the new one, never a mixture. Throws lc::Error naming the path.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Reads and checks a checkpoint file (see the list of checks above).
Checkpoint load_checkpoint(const std::string& path);

// Compares the checkpoint with a model's parameter table (LayerInfo::params of every layer, in
// order): every expected tensor present with the expected shape and no other tensor in params;
// Adam m/v and best weights, when present, likewise for the trainable / all tensors. Throws
// lc::Error "checkpoint <origin>: tensor L01.conv2d.kernel has shape 16x5x5x3, the model expects
// 32x5x5x3", "...: missing tensor X", "...: unexpected tensor X", ...
void check_checkpoint_shapes(const Checkpoint& ckpt, const std::vector<ParamInfo>& expected,
                             const std::string& origin);
// The same for a layer table, also checking the input shape against layers.front().in and the
// class count against the last layer's output width.
void check_checkpoint_shapes(const Checkpoint& ckpt, const std::vector<LayerInfo>& layers,
                             const std::string& origin);

// Every parameter value finite: throws "checkpoint <origin>: tensor X holds N non-finite values
// (NaN or infinity) ..." (a diverged run, or an altered file whose checksums were recomputed).
void check_checkpoint_finite(const Checkpoint& ckpt, const std::string& origin);

// Generator state as portable text (the C++ standard fixes mersenne_twister_engine's textual
// representation and its output sequence, so a state saved on one machine continues on another).
std::string rng_state_text(const std::mt19937_64& gen);
void rng_state_from_text(std::mt19937_64& gen, const std::string& text, const std::string& origin);

}  // namespace lc
