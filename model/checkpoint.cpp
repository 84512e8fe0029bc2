// Checkpoint serialisation and checks (format: model/checkpoint.h).
// Depends on: model/checkpoint.h, model/file_io.h (CRC-32, little-endian, atomic files),
// kernels/common/check.h.
#include "model/checkpoint.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

#include "kernels/common/check.h"
#include "model/file_io.h"

namespace lc {

// ----- Checkpoint encoding ---------------------------------------------------------------------

namespace {

constexpr std::uint8_t kMagic[8] = {'L', 'C', 'C', 'K', 'P', 'T', 0, 0};
constexpr std::size_t kHeaderBytes = 28;
constexpr std::size_t kTrailerBytes = 4;
constexpr std::uint32_t kMaxRank = 8;
constexpr const char* kSectionOrder[] = {"MODL", "CLAS", "SHAP", "PARM", "ADAM",
                                         "POSN", "RAND", "STOP", "HIST", "META"};

std::string shape_text(const std::vector<std::int64_t>& s) {
  if (s.empty()) return "scalar";
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

std::uint32_t tag_value(const char* tag) {
  return std::uint32_t(std::uint8_t(tag[0])) | std::uint32_t(std::uint8_t(tag[1])) << 8 |
         std::uint32_t(std::uint8_t(tag[2])) << 16 | std::uint32_t(std::uint8_t(tag[3])) << 24;
}

std::string tag_text(std::uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    char c = char((v >> (8 * i)) & 0xFF);
    if (c >= 0x20 && c < 0x7f) {
      s += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", unsigned(std::uint8_t(c)));
      s += hex;
    }
  }
  return s;
}

class Writer {
 public:
  std::vector<std::uint8_t> out;
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
  void u32(std::uint32_t v) { append_le32(out, v); }
  void u64(std::uint64_t v) { append_le64(out, v); }
  void i32(std::int32_t v) { u32(std::uint32_t(v)); }
  void i64(std::int64_t v) { u64(std::uint64_t(v)); }
  void f64(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    u64(bits);
  }
  void str(const std::string& s) {
    u32(std::uint32_t(s.size()));
    raw(s.data(), s.size());
  }
  void tensor(const NamedTensor& t) {
    str(t.name);
    u32(std::uint32_t(t.shape.size()));
    for (auto d : t.shape) i64(d);
    std::size_t at = out.size();
    out.resize(at + t.data.size() * 4);
    for (std::size_t i = 0; i < t.data.size(); ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &t.data[i], 4);
      store_le32(&out[at + 4 * i], bits);
    }
  }
  void tensors(const std::vector<NamedTensor>& list) {
    u32(std::uint32_t(list.size()));
    for (const auto& t : list) tensor(t);
  }
  // Sections: begin writes the tag and a placeholder size, end patches the size.
  std::size_t begin(const char* tag) {
    u32(tag_value(tag));
    u64(0);
    return out.size();
  }
  void end(std::size_t start) {
    store_le64(&out[start - 8], out.size() - start);
  }
  void patch_u64(std::size_t at, std::uint64_t v) { store_le64(&out[at], v); }
  void patch_u32(std::size_t at, std::uint32_t v) { store_le32(&out[at], v); }
};


// Bounds-checked reader over one section's payload; every failure names the file and section.
class Reader {
 public:
  Reader(const std::uint8_t* p, std::size_t n, const std::string& origin, std::string section)
      : p_(p), n_(n), origin_(origin), section_(std::move(section)) {}
  [[noreturn]] void fail(const std::string& what) const {
    LC_FAIL("checkpoint ", origin_, ": section ", section_, ": ", what);
  }
  void need(std::uint64_t bytes, const char* what) const {
    if (bytes > n_ - at_)
      fail(std::string(what) + " needs " + std::to_string(bytes) + " bytes, the section has " +
           std::to_string(n_ - at_) + " left");
  }
  std::uint32_t u32(const char* what = "a u32") {
    need(4, what);
    std::uint32_t v = load_le32(p_ + at_);
    at_ += 4;
    return v;
  }
  std::uint64_t u64(const char* what = "a u64") {
    need(8, what);
    std::uint64_t v = load_le64(p_ + at_);
    at_ += 8;
    return v;
  }
  std::int32_t i32(const char* what = "an i32") { return std::int32_t(u32(what)); }
  std::int64_t i64(const char* what = "an i64") { return std::int64_t(u64(what)); }
  double f64(const char* what = "an f64") {
    std::uint64_t bits = u64(what);
    double v;
    std::memcpy(&v, &bits, 8);
    return v;
  }
  std::string str(const char* what = "a string") {
    std::uint32_t n = u32(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p_ + at_), n);
    at_ += n;
    return s;
  }
  NamedTensor tensor() {
    NamedTensor t;
    t.name = str("a tensor name");
    if (t.name.empty()) fail("a tensor has an empty name");
    std::uint32_t rank = u32("a tensor rank");
    if (rank > kMaxRank) fail("tensor " + t.name + " has rank " + std::to_string(rank) + " (at most 8)");
    std::uint64_t numel = 1;
    for (std::uint32_t i = 0; i < rank; ++i) {
      std::int64_t d = i64("a tensor dimension");
      if (d < 0) fail("tensor " + t.name + " has a negative dimension " + std::to_string(d));
      t.shape.push_back(d);
      // Every element needs 4 bytes of what is left: this bounds numel before it can overflow.
      if (d != 0 && numel > (n_ - at_) / std::uint64_t(d)) numel = std::uint64_t(-1) / 8;
      else numel *= std::uint64_t(d);
    }
    if (numel > (n_ - at_) / 4)
      fail("tensor " + t.name + " of shape " + shape_text(t.shape) + " runs past the end of the section");
    t.data.resize(numel);
    for (std::uint64_t i = 0; i < numel; ++i) {
      std::uint32_t bits = load_le32(p_ + at_ + 4 * i);
      std::memcpy(&t.data[i], &bits, 4);
    }
    at_ += numel * 4;
    return t;
  }
  std::vector<NamedTensor> tensors(const char* list) {
    std::uint32_t count = u32("a tensor count");
    std::vector<NamedTensor> out;
    std::set<std::string> seen;
    for (std::uint32_t i = 0; i < count; ++i) {
      out.push_back(tensor());
      if (!seen.insert(out.back().name).second) fail(std::string(list) + " has tensor " + out.back().name + " twice");
    }
    return out;
  }
  void done() const {
    if (at_ != n_) fail(std::to_string(n_ - at_) + " unread bytes at its end");
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_, at_ = 0;
  const std::string& origin_;
  std::string section_;
};

// Structural checks shared by save and load: tensors well-formed and unique; Adam moments and best
// weights consistent with params.
void check_structure(const Checkpoint& c, const std::string& origin) {
  auto fail = [&](const std::string& what) { LC_FAIL("checkpoint ", origin, ": ", what); };
  auto check_list = [&](const std::vector<NamedTensor>& list, const char* what) {
    std::set<std::string> seen;
    for (const auto& t : list) {
      if (t.name.empty()) fail(std::string(what) + ": a tensor has an empty name");
      if (t.shape.size() > kMaxRank) fail(std::string(what) + ": tensor " + t.name + " has rank > 8");
      for (auto d : t.shape)
        if (d < 0) fail(std::string(what) + ": tensor " + t.name + " has a negative dimension");
      if (std::int64_t(t.data.size()) != t.numel())
        fail(std::string(what) + ": tensor " + t.name + " of shape " + shape_text(t.shape) + " holds " +
             std::to_string(t.data.size()) + " values, not " + std::to_string(t.numel()));
      if (!seen.insert(t.name).second) fail(std::string(what) + ": tensor " + t.name + " appears twice");
    }
  };
  check_list(c.params, "params");
  check_list(c.adam.m, "adam m");
  check_list(c.adam.v, "adam v");
  check_list(c.early_stop.best_weights, "best weights");
  // Adam moments: the same names and shapes in m and v, each a parameter of the same shape.
  if (c.adam.m.size() != c.adam.v.size())
    fail("adam has " + std::to_string(c.adam.m.size()) + " m tensors but " + std::to_string(c.adam.v.size()) +
         " v tensors");
  for (std::size_t i = 0; i < c.adam.m.size(); ++i) {
    const auto& m = c.adam.m[i];
    const auto& v = c.adam.v[i];
    if (m.name != v.name || m.shape != v.shape)
      fail("adam m tensor " + m.name + " (" + shape_text(m.shape) + ") and v tensor " + v.name + " (" +
           shape_text(v.shape) + ") differ");
    const NamedTensor* p = c.find_param(m.name);
    if (!p) fail("adam state for " + m.name + ", which is not a parameter");
    if (p->shape != m.shape)
      fail("adam state for " + m.name + " has shape " + shape_text(m.shape) + ", the parameter " +
           shape_text(p->shape));
  }
  if (!c.early_stop.best_weights.empty()) {
    if (c.early_stop.best_weights.size() != c.params.size())
      fail("best weights hold " + std::to_string(c.early_stop.best_weights.size()) + " tensors, params " +
           std::to_string(c.params.size()));
    for (const auto& b : c.early_stop.best_weights) {
      const NamedTensor* p = c.find_param(b.name);
      if (!p) fail("best weights hold " + b.name + ", which is not a parameter");
      if (p->shape != b.shape)
        fail("best weights tensor " + b.name + " has shape " + shape_text(b.shape) + ", the parameter " +
             shape_text(p->shape));
    }
  }
  if (c.input_height < 0 || c.input_width < 0 || c.input_channels < 0) fail("negative input shape");
}

}  // namespace

const NamedTensor* Checkpoint::find_param(const std::string& name) const {
  for (const auto& t : params)
    if (t.name == name) return &t;
  return nullptr;
}
const std::string* Checkpoint::find_meta(const std::string& key) const {
  for (const auto& [k, v] : meta)
    if (k == key) return &v;
  return nullptr;
}
const std::string* Checkpoint::find_rng(const std::string& name) const {
  for (const auto& [k, v] : rng)
    if (k == name) return &v;
  return nullptr;
}

std::vector<std::uint8_t> serialize_checkpoint(const Checkpoint& c, const std::string& origin) {
  check_structure(c, origin);
  Writer w;
  w.raw(kMagic, 8);
  w.u32(kCheckpointVersion);
  w.u32(0);  // flags
  w.u64(0);  // file size, patched below
  w.u32(0);  // header CRC, patched below
  std::size_t s;
  s = w.begin("MODL");
  w.str(c.model_json);
  w.end(s);
  s = w.begin("CLAS");
  w.u32(std::uint32_t(c.class_names.size()));
  for (const auto& n : c.class_names) w.str(n);
  w.end(s);
  s = w.begin("SHAP");
  w.i32(c.input_height);
  w.i32(c.input_width);
  w.i32(c.input_channels);
  w.end(s);
  s = w.begin("PARM");
  w.tensors(c.params);
  w.end(s);
  s = w.begin("ADAM");
  w.i64(c.adam.t);
  w.f64(c.adam.lr);
  w.f64(c.adam.beta1);
  w.f64(c.adam.beta2);
  w.f64(c.adam.epsilon);
  w.tensors(c.adam.m);
  w.tensors(c.adam.v);
  w.end(s);
  s = w.begin("POSN");
  w.i64(c.position.epoch);
  w.i64(c.position.step);
  w.i64(c.position.global_step);
  w.end(s);
  s = w.begin("RAND");
  w.u64(c.seed);
  w.u32(std::uint32_t(c.rng.size()));
  for (const auto& [name, state] : c.rng) {
    w.str(name);
    w.str(state);
  }
  w.end(s);
  s = w.begin("STOP");
  w.f64(c.early_stop.best_val_loss);
  w.i64(c.early_stop.best_epoch);
  w.i64(c.early_stop.epochs_without_improvement);
  w.tensors(c.early_stop.best_weights);
  w.end(s);
  s = w.begin("HIST");
  w.u32(std::uint32_t(c.history.size()));
  for (const auto& m : c.history) {
    w.i64(m.epoch);
    for (double v : {m.loss, m.accuracy, m.val_loss, m.val_accuracy, m.seconds, m.images_per_s, m.lr}) w.f64(v);
  }
  w.end(s);
  s = w.begin("META");
  w.u32(std::uint32_t(c.meta.size()));
  for (const auto& [k, v] : c.meta) {
    w.str(k);
    w.str(v);
  }
  w.end(s);
  w.patch_u64(16, w.out.size() + kTrailerBytes);
  w.patch_u32(24, crc32(w.out.data(), 24));
  w.u32(crc32(w.out.data(), w.out.size()));
  return std::move(w.out);
}

Checkpoint parse_checkpoint(const std::uint8_t* b, std::size_t size, const std::string& origin) {
  auto fail = [&](const std::string& what) { LC_FAIL("checkpoint ", origin, ": ", what); };
  // Magic first (a file shorter than the magic that starts like one is a truncated checkpoint).
  std::size_t m = size < 8 ? size : 8;
  if (m > 0 && std::memcmp(b, kMagic, m) != 0) fail("bad magic: not a landcover checkpoint");
  if (size < 12)
    fail("truncated (expected at least " + std::to_string(kHeaderBytes) + " bytes, file has " +
         std::to_string(size) + ")");
  std::uint32_t version = load_le32(b + 8);
  if (version != kCheckpointVersion)
    fail("unsupported version " + std::to_string(version) + " (this build reads " +
         std::to_string(kCheckpointVersion) + ")");
  if (size < kHeaderBytes)
    fail("truncated (expected at least " + std::to_string(kHeaderBytes) + " bytes, file has " +
         std::to_string(size) + ")");
  if (load_le32(b + 24) != crc32(b, 24)) fail("header checksum mismatch: the file is corrupt");
  if (load_le32(b + 12) != 0) fail("unknown flags " + std::to_string(load_le32(b + 12)) + " in the header");
  std::uint64_t declared = load_le64(b + 16);
  if (declared < kHeaderBytes + kTrailerBytes) fail("corrupt header: file size " + std::to_string(declared));
  if (size < declared)
    fail("truncated (expected " + std::to_string(declared) + " bytes, file has " + std::to_string(size) + ")");
  if (size > declared)
    fail("file has " + std::to_string(size) + " bytes, the header says " + std::to_string(declared) +
         ": trailing data");
  std::uint32_t stored = load_le32(b + size - kTrailerBytes);
  std::uint32_t computed = crc32(b, size - kTrailerBytes);
  if (stored != computed) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "checksum mismatch: the file is corrupt (stored %08x, computed %08x)",
                  unsigned(stored), unsigned(computed));
    fail(msg);
  }

  Checkpoint c;
  std::size_t at = kHeaderBytes, end = size - kTrailerBytes;
  for (const char* tag : kSectionOrder) {
    if (end - at < 12) fail(std::string("section ") + tag + " is missing");
    std::uint32_t got = load_le32(b + at);
    if (got != tag_value(tag)) fail(std::string("expected section ") + tag + ", found '" + tag_text(got) + "'");
    std::uint64_t n = load_le64(b + at + 4);
    at += 12;
    if (n > end - at)
      fail(std::string("section ") + tag + " claims " + std::to_string(n) + " bytes, " +
           std::to_string(end - at) + " remain");
    Reader r(b + at, std::size_t(n), origin, tag);
    std::string t = tag;
    if (t == "MODL") {
      c.model_json = r.str("the model JSON");
    } else if (t == "CLAS") {
      std::uint32_t k = r.u32("the class count");
      for (std::uint32_t i = 0; i < k; ++i) c.class_names.push_back(r.str("a class name"));
    } else if (t == "SHAP") {
      c.input_height = r.i32();
      c.input_width = r.i32();
      c.input_channels = r.i32();
    } else if (t == "PARM") {
      c.params = r.tensors("params");
    } else if (t == "ADAM") {
      c.adam.t = r.i64();
      c.adam.lr = r.f64();
      c.adam.beta1 = r.f64();
      c.adam.beta2 = r.f64();
      c.adam.epsilon = r.f64();
      c.adam.m = r.tensors("adam m");
      c.adam.v = r.tensors("adam v");
    } else if (t == "POSN") {
      c.position.epoch = r.i64();
      c.position.step = r.i64();
      c.position.global_step = r.i64();
    } else if (t == "RAND") {
      c.seed = r.u64();
      std::uint32_t k = r.u32("the generator count");
      for (std::uint32_t i = 0; i < k; ++i) {
        std::string name = r.str("a generator name");
        c.rng.emplace_back(std::move(name), r.str("a generator state"));
      }
    } else if (t == "STOP") {
      c.early_stop.best_val_loss = r.f64();
      c.early_stop.best_epoch = r.i64();
      c.early_stop.epochs_without_improvement = r.i64();
      c.early_stop.best_weights = r.tensors("best weights");
    } else if (t == "HIST") {
      std::uint32_t k = r.u32("the epoch count");
      for (std::uint32_t i = 0; i < k; ++i) {
        EpochMetrics e;
        e.epoch = r.i64();
        for (double* v : {&e.loss, &e.accuracy, &e.val_loss, &e.val_accuracy, &e.seconds, &e.images_per_s, &e.lr})
          *v = r.f64();
        c.history.push_back(e);
      }
    } else if (t == "META") {
      std::uint32_t k = r.u32("the entry count");
      for (std::uint32_t i = 0; i < k; ++i) {
        std::string key = r.str("a key");
        c.meta.emplace_back(std::move(key), r.str("a value"));
      }
    }
    r.done();
    at += std::size_t(n);
  }
  if (at != end) fail(std::to_string(end - at) + " unexpected bytes after the last section");
  check_structure(c, origin);
  return c;
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  std::vector<std::uint8_t> bytes = serialize_checkpoint(ckpt, path);
  write_file_atomic(path, bytes.data(), bytes.size());
}

Checkpoint load_checkpoint(const std::string& path) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = read_file_bytes(path);
  } catch (const Error& e) {
    throw Error(std::string("checkpoint ") + e.what());  // keeps the one (file:line) suffix
  }
  return parse_checkpoint(bytes.data(), bytes.size(), path);
}

void check_checkpoint_shapes(const Checkpoint& c, const std::vector<ParamInfo>& expected,
                             const std::string& origin) {
  auto fail = [&](const std::string& what) { LC_FAIL("checkpoint ", origin, ": ", what); };
  auto check_list = [&](const std::vector<NamedTensor>& list, bool trainable_only, const char* what) {
    std::set<std::string> wanted;
    for (const auto& p : expected) {
      if (trainable_only && !p.trainable) continue;
      wanted.insert(p.name);
      const NamedTensor* t = nullptr;
      for (const auto& x : list)
        if (x.name == p.name) t = &x;
      if (!t) fail(std::string(what) + "missing tensor " + p.name + " (" + shape_text(p.shape) + ")");
      if (t->shape != p.shape)
        fail(std::string(what) + "tensor " + p.name + " has shape " + shape_text(t->shape) +
             ", the model expects " + shape_text(p.shape));
    }
    for (const auto& x : list)
      if (!wanted.count(x.name)) fail(std::string(what) + "unexpected tensor " + x.name + ", not in the model");
  };
  check_list(c.params, false, "");
  if (!c.adam.m.empty()) {
    check_list(c.adam.m, true, "adam m: ");
    check_list(c.adam.v, true, "adam v: ");
  }
  if (!c.early_stop.best_weights.empty()) check_list(c.early_stop.best_weights, false, "best weights: ");
}

void check_checkpoint_shapes(const Checkpoint& c, const std::vector<LayerInfo>& layers, const std::string& origin) {
  LC_CHECK(!layers.empty(), "checkpoint ", origin, ": the model has no layers");
  const ActShape& in = layers.front().in;
  if (in.h != c.input_height || in.w != c.input_width || in.c != c.input_channels)
    LC_FAIL("checkpoint ", origin, ": input shape ", c.input_height, "x", c.input_width, "x", c.input_channels,
            ", the model expects ", in.str());
  std::int64_t classes = layers.back().out.numel();
  if (std::int64_t(c.class_names.size()) != classes)
    LC_FAIL("checkpoint ", origin, ": ", c.class_names.size(), " class names, the model outputs ", classes,
            " classes");
  std::vector<ParamInfo> expected;
  for (const auto& l : layers) expected.insert(expected.end(), l.params.begin(), l.params.end());
  check_checkpoint_shapes(c, expected, origin);
}

void check_checkpoint_finite(const Checkpoint& c, const std::string& origin) {
  for (const NamedTensor& t : c.params) {
    std::int64_t bad = 0;
    for (float v : t.data) bad += !std::isfinite(v);
    if (bad)
      LC_FAIL("checkpoint ", origin, ": tensor ", t.name, " holds ", bad, " non-finite value", bad == 1 ? "" : "s",
              " (NaN or infinity); the run diverged or the file was altered");
  }
}

std::string rng_state_text(const std::mt19937_64& gen) {
  std::ostringstream os;
  os.imbue(std::locale::classic());
  os << gen;
  return os.str();
}

void rng_state_from_text(std::mt19937_64& gen, const std::string& text, const std::string& origin) {
  std::istringstream is(text);
  is.imbue(std::locale::classic());
  std::mt19937_64 g;
  is >> g;
  if (is.fail()) LC_FAIL(origin, ": not a std::mt19937_64 state");
  is >> std::ws;
  if (!is.eof()) LC_FAIL(origin, ": trailing text after a std::mt19937_64 state");
  gen = g;
}

}  // namespace lc
