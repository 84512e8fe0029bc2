// Layer types as registered objects. Everything about one layer type lives in one file under
// runtime/layers/ (its model-file keys, shape inference and parameters, the forward and backward
// nodes it adds to a graph schedule, its part in flat-colour geometry, its multiply-add count);
// runtime/layers/registry.cpp lists the types. Nothing outside runtime/layers/ asks which type a
// layer is: the model parser, shape inference, the graph runtime and flat-colour geometry all call
// through this interface.
//
// Adding a layer type (docs/ARCHITECTURE.md, "Adding a layer type"): one new file
// runtime/layers/<name>.cpp defining a LayerType, one line in runtime/layers/registry.cpp, plus
// its kernels under kernels/<op>/ when they are new.
// Depends on: runtime/layers.h, runtime/backend.h (stream_t, BackendKind), kernels/common/types.h,
// nlohmann_json (forward declarations only).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "kernels/common/types.h"
#include "runtime/backend.h"
#include "runtime/layers.h"

namespace lc {

// A value of a schedule: an arena buffer of the plan, or an external device pointer read when the
// node runs (the network's input).
struct Val {
  int buf = -1;
  float* const* ext = nullptr;
  bool valid() const { return buf >= 0 || ext != nullptr; }
};

// What a node sees when it runs: device pointers of its values and buffers (arena offsets are known
// only after memory planning), and the rows of the batch it computes.
class NodeContext {
 public:
  virtual ~NodeContext() = default;
  virtual float* f(Val v) const = 0;       // float pointer of a value
  virtual void* raw(int buf) const = 0;    // any arena buffer (null for buf < 0)
  virtual Workspace ws(int buf) const = 0; // a workspace buffer ({} for buf < 0)
  // Images this node computes: the batch when training; for inference the call's n (on cudnn,
  // whose algorithm choice is per shape, always the batch).
  virtual int rows() const = 0;
  virtual BackendKind kind() const = 0;  // for LC_DISPATCH
  virtual stream_t stream() const = 0;
};

// Buffers a layer's forward saves for its backward (batch-norm statistics, max-pool argmax, ...);
// the meaning of each entry belongs to the layer type.
using SavedBufs = std::vector<int>;

// The schedule under construction, as a layer type sees it (implemented by the graph runtime).
class PlanBuilder {
 public:
  virtual ~PlanBuilder() = default;
  virtual BackendKind kind() const = 0;
  virtual stream_t stream() const = 0;
  virtual int batch() const = 0;       // N: buffers are planned for the whole batch
  virtual bool training() const = 0;   // training-mode forward (batch statistics, dropout)
  virtual std::string tag() const = 0; // " [cpu]": appended to node names
  virtual Val new_val(const std::string& name, std::int64_t floats) = 0;
  virtual int add_buf(const std::string& name, std::size_t bytes) = 0;  // bytes == 0 gives -1
  // One node: runs `run` in schedule order; `vals` and `bufs` are what it reads or writes (their
  // lifetimes extend over it; invalid values and negative buffers are ignored).
  virtual void add_node(const std::string& name, std::vector<Val> vals, std::vector<int> bufs,
                        std::function<void(const NodeContext&)> run) = 0;
  // Device pointers of parameter j of layer L (L.params order) and of its gradient (training).
  virtual float* param(const LayerInfo& L, int j) const = 0;
  virtual float* grad(const LayerInfo& L, int j) const = 0;
  // Dropout's key: the run's seed and the device-side count of completed optimizer steps.
  virtual std::uint64_t seed() const = 0;
  virtual const std::int64_t* step() const = 0;
};

// Row classes of one axis for flat-colour geometry (runtime/flat_geometry.h): equal keys get equal
// ids, so equal ids mean equal computations.
class FlatClassTable {
 public:
  int id(std::vector<int> key);
  static constexpr int kPad = -1;       // outside the image (zero padding)
  static constexpr int kFlatInput = 0;  // the class of every input row
 private:
  std::map<std::vector<int>, int> ids_;
  int next_ = kFlatInput + 1;
};

class LayerType {
 public:
  virtual ~LayerType() = default;
  virtual const char* name() const = 0;  // the model file's "type"

  // ---- Model file. `keys`: the keys allowed besides "type". parse reads them into L (L.type is
  // set by the caller); to_json writes them back canonically. `who` names the layer in errors.
  virtual std::vector<const char*> keys() const { return {}; }
  virtual void parse(const nlohmann::json& j, LayerSpec& L, const std::string& who) const;
  virtual void to_json(const LayerSpec& L, nlohmann::json& o) const;

  // ---- Shapes: with L.in and L.spec set, checks them (lc::Error naming L.describe()), sets L.out,
  // resolves L.spec (units "classes") and appends L.params (trainable first, then state).
  virtual void infer(LayerInfo& L, int classes) const = 0;
  virtual std::int64_t macs_per_image(const LayerInfo&) const { return 0; }
  // Whether the layer may give the logits (a final activation is refused by infer_layers).
  virtual bool has_activation(const LayerSpec&) const { return false; }

  // ---- Schedules. forward adds the layer's nodes computing its output from x and returns it
  // (x itself for layers that are the identity in this mode); in training mode it may save buffers
  // for the backward. backward adds the nodes computing parameter gradients and dL/dx from dy
  // (dL/d output; the layer may overwrite it) and returns dL/dx; `first` (layer 0): dL/dx is not
  // needed, the result is ignored.
  virtual Val forward(PlanBuilder& b, const LayerInfo& L, Val x, SavedBufs& saved) const = 0;
  virtual Val backward(PlanBuilder& b, const LayerInfo& L, Val x, Val y, Val dy, const SavedBufs& saved,
                       bool first) const = 0;

  // ---- Flat-colour geometry (runtime/flat_geometry.h): the row classes of the output along one
  // axis from the input's (default: per element, the classes stay), and whether a reduced segment
  // ends after this layer (convolutions and pools).
  virtual std::vector<int> flat_classes(FlatClassTable&, const LayerInfo&, const std::vector<int>& in) const {
    return in;
  }
  virtual bool flat_cut() const { return false; }
};

// The registered types (runtime/layers/registry.cpp), and lookup by model-file name (null when
// unknown).
const std::vector<const LayerType*>& layer_types();
const LayerType* find_layer_type(const std::string& name);
std::string layer_type_list();  // "batchnorm, conv2d, ..." for error messages

}  // namespace lc
