// `landcover import-keras MODEL.keras|MODEL.h5 --out model.ckpt [--classes eurosat|FILE]` and
// `landcover export-keras model.ckpt --out model.keras|model.h5`: Keras model exchange
// (model/keras/keras.h, docs/KERAS.md). Outputs go through the output layer (checked, locked,
// written atomically), so a failed run leaves no file and an older one untouched.
// Depends on: model/keras/keras.h, model/output_set.h, tools/command.h.
#include <cstdio>
#include <memory>
#include <string>

#include "model/checkpoint.h"
#include "model/keras/keras.h"
#include "model/output_set.h"
#include "tools/command.h"

namespace {

struct Args {
  std::string in, out, classes;
};

// The output set of --out, checked and locked before any work (model/output_set.h).
std::unique_ptr<lc::OutputSet> open_output(const std::string& out) {
  auto outputs = std::make_unique<lc::OutputSet>();
  outputs->add(out, "--out");
  outputs->open();
  return outputs;
}

void commit(lc::OutputSet& outputs, const std::string& out, const std::vector<std::uint8_t>& bytes) {
  outputs.stage(out, bytes.data(), bytes.size());
  outputs.commit();
}

void run_import(const Args& a) {
  const auto outputs = open_output(a.out);
  std::vector<std::string> classes;
  if (!a.classes.empty()) classes = lc::load_class_names(a.classes);
  const lc::KerasImport r = lc::import_keras(a.in, classes);
  commit(*outputs, a.out, lc::serialize_checkpoint(r.checkpoint, a.out));
  std::int64_t floats = 0;
  for (const lc::NamedTensor& t : r.checkpoint.params) floats += t.numel();
  std::printf("%s: %s, %d Keras layers -> %s (%zu classes, %lld weights and statistics)\n", a.in.c_str(),
              r.format.c_str(), r.keras_layers, a.out.c_str(), r.checkpoint.class_names.size(),
              static_cast<long long>(floats));
  for (const std::string& n : r.notes) std::printf("note: %s\n", n.c_str());
}

void run_export(const Args& a) {
  const bool keras3 = lc::keras_format_of(a.out);
  const auto outputs = open_output(a.out);
  const lc::Checkpoint ck = lc::load_checkpoint(a.in);
  commit(*outputs, a.out, lc::export_keras_bytes(ck, keras3, "checkpoint " + a.in));
  std::printf("%s -> %s (%s, %zu classes; load with keras.models.load_model)\n", a.in.c_str(), a.out.c_str(),
              keras3 ? "Keras 3 .keras" : "legacy Keras .h5", ck.class_names.size());
}

void setup_import(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("import-keras", "Convert a Keras model (.keras or legacy .h5) into a checkpoint");
  cmd->add_option("model", a->in, "Keras model file (.keras zip or .h5)")->required();
  cmd->add_option("--out", a->out, "Checkpoint to write")->required();
  cmd->add_option("--classes", a->classes,
                  "Class names: eurosat, or a file with one name per line (default: EuroSAT's for 10 outputs)");
  cmd->callback([a] { run_import(*a); });
}

void setup_export(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export-keras", "Write a checkpoint as a Keras model (.keras or legacy .h5)");
  cmd->add_option("checkpoint", a->in, "Checkpoint (landcover train or import-keras)")->required();
  cmd->add_option("--out", a->out, "Keras file: .keras (Keras 3) or .h5 (legacy), by extension")->required();
  cmd->callback([a] { run_export(*a); });
}

}  // namespace

LC_REGISTER_COMMAND(import_keras, setup_import);
LC_REGISTER_COMMAND(export_keras, setup_export);
