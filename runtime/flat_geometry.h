// Flat-colour inference geometry: how a network whose input image is ONE colour everywhere (the
// pixel mode of `landcover segment`: every pixel's colour classified as a flat 64x64 patch) can be
// evaluated exactly on smaller images.
//
// Why it is exact. With a flat input, every activation is a function of (row class, column class):
// two rows of a feature map are equal when the computations that made them are equal. Per axis, a
// class is assigned to every row (column) of every layer by a symbolic pass: the input rows are all
// one class; a conv2d of radius r gives row i the class of the tuple (layer, classes of rows i-r ..
// i+r, with a padding marker outside the image); a 2x2 max-pool gives row i the class of (layer,
// rows 2i, 2i+1); batch norm, ELU, dropout (inference) keep the classes. Equal tuples mean the same
// arithmetic on equal values, so equal classes mean equal values (bit for bit on a backend whose
// per-output summation order does not depend on the image size; within float rounding otherwise).
//
// The reduced evaluation. The layers are cut into segments that end after each conv2d and each
// max-pool (the last segment ends at the flatten; batch norm and dropout ride with the next cut).
// A segment runs on a reduced input: its full input rows with every run of equal classes shortened
// to at most k rows (smallest k that works); simulating the segment's layers on it must produce
// every class of the segment's full output (the last segment: exactly the full output rows, so
// flatten + dense see the real layout). Between segments, a gather (kernels/image
// gather_rows_cols) picks, for each row of the next reduced input, a row of the previous reduced
// output with the same class. A segment that cannot shrink runs at full size. The whole check is
// symbolic: a reduced row is only ever used for a class it provably has.
//
// For the seed network (64x64 input) the six convolutions run on 5x5, 5x5, 7x7, 7x7, 9x9 and 7x7
// images instead of 64, 32, 32, 16, 16 and 8 (the pools on 6x6, 10x10, 10x10 and 8x8): 8.4 M
// instead of 38.2 M multiply-adds per colour, 4.6x fewer.
// Depends on: runtime/layers.h.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/layers.h"

namespace lc {

struct FlatGeometry {
  // The layer table with reduced spatial sizes (names, parameters and channel counts unchanged).
  std::vector<LayerInfo> layers;
  // Before layer i, when rows[i] is not empty, the activation is gathered: output row a is input
  // row rows[i][a], output column b is input column cols[i][b] (both lists non-empty together).
  std::vector<std::vector<std::int32_t>> rows, cols;
  ActShape input;  // the reduced input image (every pixel the colour)
  // Multiply-adds per image of the reduced evaluation and of the full one.
  std::int64_t reduced_macs = 0, full_macs = 0;
};

// Derives the reduced geometry of a layer table (from infer_layers). Always succeeds: at worst
// every segment keeps its full size.
FlatGeometry derive_flat_geometry(const std::vector<LayerInfo>& layers);

// The per-axis part, exposed for tests: the row classes of every layer boundary for a flat input of
// `n` rows (result[i] = classes of the input rows of layer i; result[layers] = the output's).
std::vector<std::vector<int>> flat_row_classes(const std::vector<LayerInfo>& layers, int n);

}  // namespace lc
