#!/usr/bin/env python3
# Generates tests/golden/conv2d_vectors.bin for tests/golden/conv2d_vectors_test.cpp: convolution
# results from an independent implementation (PyTorch, float64) for the filter shapes the
# seed-network golden file does not have: non-square (3x5, 5x3, 1x7), 1x1, 7x7, and a 7x7 filter
# larger than its 4x4 image. The kernel tests compare every backend with lc::ref, so a padding or
# layout convention shared by the reference and the kernels would pass them; these vectors would not.
# Run once by hand; the output is committed. Not part of the build or CI.
# Depends on: PyTorch, numpy, lcgolden.py.
#
#   python tests/golden/make_conv2d_vectors.py
#
# Conventions (kernels/conv2d/conv2d.h, written out independently): x NHWC, weights KRSC
# [out][kh][kw][in], stride 1, "same" padding (r - 1) / 2 rows above and below, (s - 1) / 2
# columns left and right (odd filters), bias per output channel; fused ELU y = elu(z), alpha 1.
# Backward: dx = conv_transpose of dy (dy with respect to z), dw and db summed over the batch.
# Per case: x, w, b, dy (float32-representable), z (linear), y_elu, dx, dw, db (float64), and the
# magnitude sums the test's tolerance needs: mag_z = |x| * |w| + |b| (same convolution of
# absolute values), mag_dx, mag_dw, mag_db likewise.
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lcgolden  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# (n, h, w, c, k, r, s)
CASES = [(2, 6, 7, 3, 4, 3, 5), (1, 7, 5, 2, 3, 5, 3), (2, 5, 8, 3, 2, 1, 7), (2, 5, 6, 4, 3, 1, 1),
         (1, 9, 8, 2, 3, 7, 7), (1, 4, 4, 2, 2, 7, 7)]


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def conv(x, w, b, r, s):
    """x NHWC, w KRSC, b [K] (float64 torch tensors) -> z NHWC."""
    z = F.conv2d(x.permute(0, 3, 1, 2), w.permute(0, 3, 1, 2), b, padding=((r - 1) // 2, (s - 1) // 2))
    return z.permute(0, 2, 3, 1)


def main():
    rng = np.random.default_rng(7)
    recs = [("info", np.frombuffer(
        ("LCGOLDEN v1: conv2d vectors (x NHWC, w KRSC, same padding, stride 1) made by "
         f"tests/golden/make_conv2d_vectors.py (PyTorch {torch.__version__}, float64). Records per case i: "
         "case<i>.shape (n h w c k r s), .x .w .b .dy (float32), .z .y_elu .dx .dw .db and .mag_z .mag_dx "
         ".mag_dw .mag_db (float64).").encode(), dtype=np.uint8)),
            ("config.cases", np.array(len(CASES), np.int32))]
    for i, (n, h, w_, c, k, r, s) in enumerate(CASES):
        x = f32(rng.uniform(-1, 1, (n, h, w_, c)))
        w = f32(rng.uniform(-0.5, 0.5, (k, r, s, c)))
        b = f32(rng.uniform(-0.5, 0.5, (k,)))
        dy = f32(rng.uniform(-1, 1, (n, h, w_, k)))
        tx, tw, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, w, b))
        z = conv(tx, tw, tb, r, s)
        z.backward(torch.tensor(dy))
        with torch.no_grad():
            y_elu = torch.where(z > 0, z, torch.expm1(torch.clamp(z, max=0)))
            ax, aw, ab, ady = (torch.tensor(np.abs(v)) for v in (x, w, b, dy))
            mag_z = conv(ax, aw, ab, r, s)
        # Magnitudes of the backward sums: the same gradients taken with absolute values.
        mx, mw, mb = (torch.tensor(np.abs(v), requires_grad=True) for v in (x, w, b))
        conv(mx, mw, mb, r, s).backward(ady)
        p = f"case{i}"
        recs += [(f"{p}.shape", np.array([n, h, w_, c, k, r, s], np.int32)),
                 (f"{p}.x", x.astype(np.float32)), (f"{p}.w", w.astype(np.float32)),
                 (f"{p}.b", b.astype(np.float32)), (f"{p}.dy", dy.astype(np.float32)),
                 (f"{p}.z", z.detach().numpy()), (f"{p}.y_elu", y_elu.numpy()),
                 (f"{p}.dx", tx.grad.numpy()), (f"{p}.dw", tw.grad.numpy()), (f"{p}.db", tb.grad.numpy()),
                 (f"{p}.mag_z", mag_z.numpy()), (f"{p}.mag_dx", mx.grad.numpy()),
                 (f"{p}.mag_dw", mw.grad.numpy()), (f"{p}.mag_db", mb.grad.numpy())]
    out = os.path.join(ROOT, "tests", "golden", "conv2d_vectors.bin")
    lcgolden.write(out, recs)
    assert list(lcgolden.read(out)) == [r[0] for r in recs]
    print(f"wrote {out}: {os.path.getsize(out)} bytes, {len(recs)} records")


if __name__ == "__main__":
    main()
