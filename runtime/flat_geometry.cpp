// Flat-colour inference geometry (see flat_geometry.h).
#include "runtime/flat_geometry.h"

#include <algorithm>
#include <map>

#include "kernels/common/check.h"
#include "runtime/layer_type.h"

namespace lc {

namespace {

using ClassTable = FlatClassTable;
constexpr int kFlatInput = FlatClassTable::kFlatInput;  // the class of every input row

// Layer L applied to the row classes of one axis.
std::vector<int> apply(ClassTable& t, const LayerInfo& L, const std::vector<int>& in) {
  return L.spec.type->flat_classes(t, L, in);
}

// Every run of equal classes cut to at most k rows.
std::vector<int> shorten_runs(const std::vector<int>& seq, int k) {
  std::vector<int> out;
  int run = 0;
  for (std::size_t i = 0; i < seq.size(); ++i) {
    run = i > 0 && seq[i] == seq[i - 1] ? run + 1 : 1;
    if (run <= k) out.push_back(seq[i]);
  }
  return out;
}

bool covers(const std::vector<int>& have, const std::vector<int>& need) {
  for (int c : need)
    if (std::find(have.begin(), have.end(), c) == have.end()) return false;
  return true;
}

// The spatial part of the network: layers [0, end) keep an image layout.
std::size_t spatial_end(const std::vector<LayerInfo>& layers) {
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (layers[i].in.flat || layers[i].out.flat) return i;
  return layers.size();
}

// One axis of the reduced evaluation: lengths of every layer's input and output rows (layers
// before spatial_end) and the gathers before segment starts.
struct Axis {
  int input = 0;
  std::vector<int> in_len, out_len;
  std::vector<std::vector<std::int32_t>> gather;  // [layer]: empty = none
};

Axis derive_axis(const std::vector<LayerInfo>& layers, int n) {
  const std::size_t end = spatial_end(layers);
  ClassTable t;
  std::vector<std::vector<int>> full{std::vector<int>(std::size_t(n), kFlatInput)};
  for (std::size_t i = 0; i < end; ++i) full.push_back(apply(t, layers[i], full.back()));

  std::vector<std::size_t> bounds{0};
  for (std::size_t i = 0; i < end; ++i)
    if (layers[i].spec.type->flat_cut() && i + 1 < end)
      bounds.push_back(i + 1);
  bounds.push_back(end);

  Axis ax;
  ax.in_len.assign(end, 0);
  ax.out_len.assign(end, 0);
  ax.gather.assign(end, {});
  std::vector<int> prev_out;
  for (std::size_t s = 0; s + 1 < bounds.size(); ++s) {
    const std::size_t a = bounds[s], b = bounds[s + 1];
    const bool last = b == end;
    std::vector<int> in, out;
    for (int k = 1;; ++k) {
      in = shorten_runs(full[a], k);
      if (in.size() == full[a].size()) {  // nothing left to shorten: full size
        in = full[a];
        break;
      }
      out = in;
      for (std::size_t i = a; i < b; ++i) out = apply(t, layers[i], out);
      if (last ? out == full[b] : covers(out, full[b])) break;
    }
    // Lengths (the full-size fallback re-simulates: same classes, no new ids).
    std::vector<int> cur = in;
    for (std::size_t i = a; i < b; ++i) {
      ax.in_len[i] = int(cur.size());
      cur = apply(t, layers[i], cur);
      ax.out_len[i] = int(cur.size());
    }
    if (s == 0) {
      ax.input = int(in.size());
    } else if (in != prev_out) {
      for (int c : in) {
        const auto it = std::find(prev_out.begin(), prev_out.end(), c);
        LC_CHECK(it != prev_out.end(), "flat geometry: class ", c, " missing before layer ", a);
        ax.gather[a].push_back(std::int32_t(it - prev_out.begin()));
      }
    }
    prev_out = cur;
  }
  return ax;
}

std::vector<std::int32_t> identity(int n) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

}  // namespace

std::vector<std::vector<int>> flat_row_classes(const std::vector<LayerInfo>& layers, int n) {
  ClassTable t;
  std::vector<std::vector<int>> full{std::vector<int>(std::size_t(n), kFlatInput)};
  for (std::size_t i = 0; i < spatial_end(layers); ++i) full.push_back(apply(t, layers[i], full.back()));
  return full;
}

FlatGeometry derive_flat_geometry(const std::vector<LayerInfo>& layers) {
  LC_CHECK(!layers.empty() && !layers.front().in.flat, "flat geometry: the network must take an image");
  const Axis rows = derive_axis(layers, layers.front().in.h);
  const Axis cols = derive_axis(layers, layers.front().in.w);
  FlatGeometry g;
  g.layers = layers;
  g.rows.assign(layers.size(), {});
  g.cols.assign(layers.size(), {});
  g.input = layers.front().in;
  g.input.h = rows.input, g.input.w = cols.input;
  for (std::size_t i = 0; i < rows.in_len.size(); ++i) {
    LayerInfo& L = g.layers[i];
    L.in.h = rows.in_len[i], L.in.w = cols.in_len[i];
    L.out.h = rows.out_len[i], L.out.w = cols.out_len[i];
    if (rows.gather[i].empty() && cols.gather[i].empty()) continue;
    // One axis may need no gather: then it is the identity over the previous output.
    const LayerInfo& prev = g.layers[i - 1];
    g.rows[i] = rows.gather[i].empty() ? identity(prev.out.h) : rows.gather[i];
    g.cols[i] = cols.gather[i].empty() ? identity(prev.out.w) : cols.gather[i];
  }
  g.full_macs = forward_macs_per_image(layers);
  g.reduced_macs = forward_macs_per_image(g.layers);
  return g;
}

}  // namespace lc
