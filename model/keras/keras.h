// Keras model exchange (`landcover import-keras`, `landcover export-keras`; docs/KERAS.md).
//
// Import reads a Keras model, told by its content (not its name):
//   - a Keras 3 `.keras` zip: config.json (the model config) and model.weights.h5, whose weights sit
//     in layers/<generic name>/vars/<i>, the generic names being Keras's per class in layer order
//     (conv2d, conv2d_1, ...; as Keras loads them), else the group whose "name" attribute is the
//     layer's name;
//   - a legacy Keras 2 / tf.keras `.h5`: the root attribute model_config and
//     model_weights/<layer>/ with the attribute weight_names.
// The config must be a Sequential or a functional chain of the layers keras_config.cpp maps
// (BatchNormalization, Conv2D 'same' with ELU or linear, MaxPooling2D 2x2, Flatten, Dense, Dropout,
// Activation / ELU / Softmax), RGB input of a fixed size. Layouts: Conv2D kernels HWIO
// (kh, kw, in, out) become KRSC (out, kh, kw, in); Dense kernels (in, out), batch-norm gamma, beta,
// moving mean and variance are taken as they are; Flatten is H, W, C in both (activations are
// NHWC). The result is an ordinary checkpoint: classify and segment use it, and
// `train --resume` fine-tunes it (fresh Adam state, the default training settings in its meta).
//
// Export writes a Sequential model Keras loads with keras.models.load_model: `.keras` (Keras 3 zip)
// or `.h5` (legacy), chosen by the output's extension; the last Dense gets a softmax, so Keras
// predicts the probabilities landcover reports.
// Every failure is one lc::Error line naming the file (and the layer, for layers and weights).
// Depends on: model/checkpoint.h, model/keras/keras_internal.h (HDF5, config mapping), libarchive.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/checkpoint.h"

namespace lc {

// EuroSAT's class names in label order (sorted folder names; docs/MODEL.md).
const std::vector<std::string>& eurosat_class_names();
// `--classes`: "eurosat", or a text file with one class name per line in label order (blank lines
// and surrounding spaces ignored). Throws naming the file.
std::vector<std::string> load_class_names(const std::string& spec);

struct KerasImport {
  Checkpoint checkpoint;
  std::string format;              // "Keras 3 .keras" or "legacy Keras .h5"
  int keras_layers = 0;            // layers in the Keras config (input layer included)
  std::vector<std::string> notes;  // what the import changed, one line each
};

// Reads `path`. `class_names` empty: EuroSAT's names when the model has 10 outputs, else an error
// asking for --classes; otherwise their count must equal the model's outputs.
KerasImport import_keras(const std::string& path, std::vector<std::string> class_names);
// Import from bytes in memory (`origin` names them in errors).
KerasImport import_keras_bytes(const std::vector<std::uint8_t>& bytes, const std::string& origin,
                               std::vector<std::string> class_names);

// The Keras file of a checkpoint: a `.keras` zip (keras3 = true) or a legacy `.h5`.
std::vector<std::uint8_t> export_keras_bytes(const Checkpoint& ckpt, bool keras3, const std::string& origin);
// Whether an output name asks for the `.keras` format (else `.h5`; other extensions are errors).
bool keras_format_of(const std::string& out_path);

}  // namespace lc
