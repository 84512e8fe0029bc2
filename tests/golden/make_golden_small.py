#!/usr/bin/env python3
# Generates tests/golden/small_cnn_golden.bin for tests/golden/golden_small_test.cpp: what the
# seed-network golden file (make_golden.py) leaves out, on a small network so the file stays
# small: an odd batch (3), Adam's first and second moments, the complete state after step 2
# (parameters, statistics, m, v, step-2 gradients), and the inference-mode forward (batch norm
# with the moving statistics) after two steps. Float64 PyTorch, the semantics of make_golden.py
# (imported from it: the same training forward, loss, moving statistics and Adam; see its header),
# plus the inference forward written out below. Run once by hand; the output is committed. Not
# part of the build or CI. Depends on: PyTorch, numpy, make_golden.py, lcgolden.py.
#
#   python tests/golden/make_golden_small.py              # writes the file, prints float32 errors
#
# The C++ test's tolerances come from the float32 errors printed here (float32 PyTorch against
# float64, per record category): see tests/golden/golden_small_test.cpp.
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lcgolden  # noqa: E402
import make_golden as mg  # noqa: E402

ROOT = mg.ROOT
MODEL = {"name": "small_golden", "input": [12, 12, 3], "layers": [
    {"type": "batchnorm"},
    {"type": "conv2d", "filters": 6, "kernel": 3, "activation": "elu"},
    {"type": "maxpool"},
    {"type": "batchnorm"},
    {"type": "conv2d", "filters": 8, "kernel": 5, "activation": "elu"},
    {"type": "maxpool"},
    {"type": "flatten"},
    {"type": "dense", "units": 16, "activation": "elu"},
    {"type": "dense", "units": "classes"}]}
CLASSES, BATCH = 5, 3
SEED = 1
STEPS = 2  # recorded (make_golden.train runs mg.STEPS = 3; the third is not stored)


def layers_of(spec, classes):
    """make_golden.load_layers for a model dict instead of model/eurosat_cnn.json."""
    h, w, c = spec["input"]
    layers = []
    for i, L in enumerate(spec["layers"]):
        t = L["type"]
        info = dict(index=i, type=t, prefix=f"L{i:02d}.{t}", params=[])
        if t == "batchnorm":
            info["params"] = [("gamma", [c], True), ("beta", [c], True),
                              ("moving_mean", [c], False), ("moving_var", [c], False)]
        elif t == "conv2d":
            k, f_ = L["kernel"], L["filters"]
            info.update(k=k, elu=L.get("activation") == "elu")
            info["params"] = [("kernel", [f_, k, k, c], True), ("bias", [f_], True)]
            c = f_
        elif t == "maxpool":
            h, w = h // 2, w // 2
        elif t == "flatten":
            c, h, w = h * w * c, 1, 1
        elif t == "dense":
            u = classes if L["units"] == "classes" else L["units"]
            info.update(elu=L.get("activation") == "elu")
            info["params"] = [("kernel", [c, u], True), ("bias", [u], True)]
            c = u
        layers.append(info)
    return layers


def infer_forward(layers, P, x):
    """Inference mode: batch norm y = gamma * (x - moving_mean) / sqrt(moving_var + 1e-3) + beta."""
    a = x
    for L in layers:
        t, p = L["type"], L["prefix"]
        if t == "batchnorm":
            a = P[p + ".gamma"] * (a - P[p + ".moving_mean"]) / torch.sqrt(P[p + ".moving_var"] + mg.BN_EPS) \
                + P[p + ".beta"]
        elif t == "conv2d":
            y = F.conv2d(a.permute(0, 3, 1, 2), P[p + ".kernel"].permute(0, 3, 1, 2), P[p + ".bias"], padding=L["k"] // 2)
            a = y.permute(0, 2, 3, 1)
            if L["elu"]:
                a = mg.elu(a)
        elif t == "maxpool":
            a = F.max_pool2d(a.permute(0, 3, 1, 2), 2, 2).permute(0, 2, 3, 1)
        elif t == "flatten":
            a = a.reshape(a.shape[0], -1)
        elif t == "dense":
            a = a @ P[p + ".kernel"] + P[p + ".bias"]
            if L["elu"]:
                a = mg.elu(a)
    return a


def adam_moments(grads, trainable):
    """m and v after each step from the gradients (Keras: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2)."""
    m = {k: 0.0 for k in trainable}
    v = {k: 0.0 for k in trainable}
    out = []
    for g in grads:
        m = {k: mg.BETA1 * m[k] + (1 - mg.BETA1) * g[k] for k in trainable}
        v = {k: mg.BETA2 * v[k] + (1 - mg.BETA2) * g[k] * g[k] for k in trainable}
        out.append((m, v))
    return out


def run(layers, init, x, labels, dtype):
    masks = [{} for _ in range(mg.STEPS)]
    out, trainable, state = mg.train(layers, init, x.astype(np.float64) if dtype == torch.float64 else x, labels,
                                     masks, dtype)
    moments = adam_moments(out["grads"][:STEPS], trainable)
    after = {**out["params"][STEPS - 1], **out["states"][STEPS - 1]}
    with torch.no_grad():
        P = {k: torch.tensor(v, dtype=dtype) for k, v in after.items()}
        logits = infer_forward(layers, P, torch.tensor(x, dtype=dtype)).numpy().astype(np.float64)
    return out, trainable, state, moments, logits


def rel(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(np.asarray(b)).max(), 1e-30))


def main():
    ap = argparse.ArgumentParser(description="Writes the small golden file of tests/golden/golden_small_test.cpp.")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "small_cnn_golden.bin"))
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    torch.set_num_threads(1)
    layers = layers_of(MODEL, CLASSES)
    rng = np.random.default_rng(args.seed)
    init = mg.init_params(layers, rng)
    x = rng.uniform(0.0, 1.0, (BATCH, 12, 12, 3)).astype(np.float32)
    labels = np.array([4, 0, 2], dtype=np.int32)
    ref, trainable, state, moments, infer = run(layers, init, x, labels, torch.float64)
    f32, _, _, m32, infer32 = run(layers, {k: v.astype(np.float32) for k, v in init.items()}, x, labels, torch.float32)

    # Max-pool near-ties in steps 1 and 2 would make float32 runs pick other winners.
    for t in range(STEPS):
        gaps = []
        for a, b in zip(ref["pool_inputs"][t], f32["pool_inputs"][t]):
            n, h, w, c = a.shape
            win = np.sort(a.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4), axis=1)
            gaps.append((win[:, 3] - win[:, 2]).min() / max(np.abs(a - b).max(), 1e-30))
        print(f"step {t + 1}: smallest max-pool top-2 gap / float32 error per pool: "
              + ", ".join(f"{g:.3g}" for g in gaps))
        if min(gaps) < 10:
            sys.exit(f"near-tie in a max-pool window of step {t + 1} (seed {args.seed}): choose another --seed")

    print("float32 (PyTorch) against float64, max|d| / max|ref| (worst tensor):")
    for t in range(STEPS):
        print(f"  step {t + 1}: logits {rel(f32['logits'][t], ref['logits'][t]):.3g}, "
              f"loss |d| {abs(f32['loss'][t] - ref['loss'][t]):.3g}, "
              f"gradients {max(rel(f32['grads'][t][k], ref['grads'][t][k]) for k in trainable):.3g}, "
              f"parameters {max(rel(f32['params'][t][k], ref['params'][t][k]) for k in trainable):.3g}, "
              f"|d| parameters {max(np.abs(f32['params'][t][k] - ref['params'][t][k]).max() for k in trainable):.3g}, "
              f"m {max(rel(m32[t][0][k], moments[t][0][k]) for k in trainable):.3g}, "
              f"v {max(rel(m32[t][1][k], moments[t][1][k]) for k in trainable):.3g}, "
              f"statistics {max(rel(f32['states'][t][s], ref['states'][t][s]) for s in state):.3g}")
    print(f"  inference logits after step {STEPS}: {rel(infer32, infer):.3g}")
    print("losses " + ", ".join(f"{v:.9f}" for v in ref["loss"][:STEPS]))

    info = (f"LCGOLDEN v1: small network (model_json record), {CLASSES} classes, batch {BATCH}, made by "
            f"tests/golden/make_golden_small.py (seed {args.seed}, PyTorch {torch.__version__}, float64). Two "
            "training steps on the same batch (the semantics of make_golden.py, no dropout), then the inference "
            "forward (moving statistics) with the weights after step 2. Records: input, labels, init.<name>, "
            "stepT.logits and stepT.loss (float64), stepT.grad.<name>, stepT.<name> (parameters and statistics "
            "after step T), stepT.m.<name> and stepT.v.<name> (Adam moments after step T), T = 1, 2; "
            "infer.logits (float64).")
    recs = [("info", np.frombuffer(info.encode(), dtype=np.uint8)),
            ("model_json", np.frombuffer(json.dumps(MODEL).encode(), dtype=np.uint8)),
            ("config.classes", np.array(CLASSES, np.int32)),
            ("input", x), ("labels", labels)]
    names = [f"{L['prefix']}.{n}" for L in layers for n, _, _ in L["params"]]
    for k in names:
        recs.append((f"init.{k}", init[k].astype(np.float32)))
    for t in range(STEPS):
        s = f"step{t + 1}"
        recs.append((f"{s}.logits", ref["logits"][t]))
        recs.append((f"{s}.loss", np.array(ref["loss"][t], np.float64)))
        after = {**ref["params"][t], **ref["states"][t]}
        for k in names:
            recs.append((f"{s}.{k}", after[k].astype(np.float32)))
        for k in trainable:
            recs.append((f"{s}.grad.{k}", ref["grads"][t][k].astype(np.float32)))
            recs.append((f"{s}.m.{k}", np.asarray(moments[t][0][k]).astype(np.float32)))
            recs.append((f"{s}.v.{k}", np.asarray(moments[t][1][k]).astype(np.float32)))
    recs.append(("infer.logits", infer))
    lcgolden.write(args.out, recs)
    assert list(lcgolden.read(args.out)) == [r[0] for r in recs]
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes, {len(recs)} records")


if __name__ == "__main__":
    main()
