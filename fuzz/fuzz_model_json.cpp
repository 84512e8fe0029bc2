// Fuzz target: the model JSON parser and shape checks (model/model_spec.h). Every input either
// gives a model or throws lc::Error (a JSON library exception escaping is a finding); a model
// that parses writes JSON that parses to the same model.
// Depends on: model/model_spec.h, libFuzzer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common/check.h"
#include "model/model_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const lc::ModelSpec spec = lc::parse_model_json(text, "fuzz");
    const std::string again = lc::model_to_json(spec);
    if (lc::model_to_json(lc::parse_model_json(again, "fuzz again")) != again) __builtin_trap();
    (void)lc::validate_model(spec, 10, "fuzz");
  } catch (const lc::Error&) {
  }
  return 0;
}
