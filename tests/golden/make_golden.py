#!/usr/bin/env python3
# Generates tests/golden/eurosat_cnn_golden.bin: the seed network (model/eurosat_cnn.json, 10
# classes) run by an independent framework (PyTorch, float64) on a fixed batch with fixed weights,
# for tests/golden/golden_test.cpp. Run once by hand; the output is committed. Not part of the
# build or CI. Depends on: PyTorch, numpy, tests/golden/lcgolden.py (the file format).
#
#   /work/venv-torch/bin/python tests/golden/make_golden.py            # writes the golden file
#   /work/venv-torch/bin/python tests/golden/make_golden.py --calibrate # also reports float32 errors
#
# What it computes (all in float64, from float32-representable inputs and initial values, so the
# C++ test feeds exactly the same numbers; results are rounded to float32 when stored, except
# logits and losses, stored in float64):
#   Three training steps on the same batch. Each step: forward in training mode (batch norm with
#   the batch's statistics, real dropout masks), softmax cross-entropy averaged over the batch,
#   backward, batch-norm moving statistics update, one Adam step. Step 2 and 3 see the weights
#   updated by the steps before them.
# The semantics (MODEL.md and the kernel contracts, written out here independently):
#   layouts     activations NHWC; conv kernel KRSC [out][kh][kw][in]; dense kernel [in][out];
#               flatten in H, W, C order. Torch wants NCHW/OIHW: permuted inside the forward, so
#               autograd returns gradients in our layouts.
#   batchnorm   y = gamma * (x - mean) / sqrt(var + 1e-3) + beta, mean and biased var over N, H, W;
#               moving_mean = 0.99 * moving_mean + 0.01 * mean,
#               moving_var  = 0.99 * moving_var  + 0.01 * var * m / (m - 1)   (m = N*H*W: the
#               unbiased batch variance, as TF's fused batch norm, cuDNN and PyTorch do).
#   conv2d      stride 1, padding same (k // 2 on each side), bias, fused ELU.
#   ELU         alpha 1: x if x > 0 else expm1(x).
#   maxpool     2x2, stride 2.
#   dense       y = x W + b, fused ELU except the last.
#   dropout     rate 0.5, inverted: y = x * keep * 2, keep from kernels/dropout's Philox mask
#               (reimplemented below in numpy from that contract).
#   loss        mean over the batch of -log softmax(logits)[label].
#   Adam        Keras: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
#               lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t * m / (sqrt(v) + eps),
#               lr 1e-3, b1 0.9, b2 0.999, eps 1e-7, t = 1, 2, 3 (see kernels/adam/adam.h).
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lcgolden  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BN_EPS = 1e-3
BN_MOMENTUM = 0.99
LR, BETA1, BETA2, ADAM_EPS = 1e-3, 0.9, 0.999, 1e-7
STEPS = 3
DROPOUT_SEED = 0  # set from the dropout contract
FIRST_STEP = 0


# ---- Dropout mask: kernels/dropout/dropout.h, reimplemented ---------------------------------------
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (Salmon et al. SC'11, Random123's philox4x32_10) on uint64 numpy arrays holding
    32-bit values; returns the four output words."""
    m32 = np.uint64(0xFFFFFFFF)
    c = [np.asarray(v, dtype=np.uint64) & m32 for v in (c0, c1, c2, c3)]
    k0 = np.uint64(k0) & m32
    k1 = np.uint64(k1) & m32
    for r in range(10):
        if r > 0:
            k0 = (k0 + np.uint64(PHILOX_W0)) & m32
            k1 = (k1 + np.uint64(PHILOX_W1)) & m32
        p0 = np.uint64(PHILOX_M0) * c[0]
        p1 = np.uint64(PHILOX_M1) * c[2]
        c = [((p1 >> np.uint64(32)) ^ c[1] ^ k0) & m32, p1 & m32,
             ((p0 >> np.uint64(32)) ^ c[3] ^ k1) & m32, p0 & m32]
    return c


def philox_known_answers():
    # Random123 kat_vectors for philox4x32_10.
    cases = [((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
             ((0xffffffff,) * 4, (0xffffffff,) * 2, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
             ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
              (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))]
    for ctr, key, want in cases:
        got = tuple(int(w) for w in philox4x32_10(*ctr, *key))
        assert got == want, f"philox4x32_10 known answer: got {[hex(g) for g in got]}"


def dropout_keep(seed, step, layer, n):
    """The keep mask (bool [n]) of dropout layer `layer` at (seed, step): see dropout_contract()."""
    raise NotImplementedError  # replaced by the contract's formula below


# ---- The network ---------------------------------------------------------------------------------
def load_layers(classes):
    with open(os.path.join(ROOT, "model", "eurosat_cnn.json")) as f:
        spec = json.load(f)
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
        elif t == "dropout":
            info.update(rate=L["rate"])
        else:
            raise ValueError(f"unknown layer type {t}")
        layers.append(info)
    return layers


def f32(a):
    """Rounds to float32 and back: the values the C++ side will hold exactly."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def init_params(layers, rng):
    """Fixed, seeded values of the scale training sees: Glorot-uniform kernels, small random biases,
    batch-norm gamma near 1 and beta near 0 (random, so both matter), random moving statistics
    (so the momentum update is visible). Every value float32-representable."""
    params = {}
    for L in layers:
        for name, shape, _ in L["params"]:
            full = f"{L['prefix']}.{name}"
            if name == "kernel":
                if L["type"] == "conv2d":
                    fan_in = shape[1] * shape[2] * shape[3]
                    fan_out = shape[0] * shape[1] * shape[2]
                else:
                    fan_in, fan_out = shape
                lim = np.sqrt(6.0 / (fan_in + fan_out))
                v = rng.uniform(-lim, lim, shape)
            elif name == "bias":
                v = rng.uniform(-0.1, 0.1, shape)
            elif name == "gamma":
                v = rng.uniform(0.8, 1.2, shape)
            elif name == "beta":
                v = rng.uniform(-0.2, 0.2, shape)
            elif name == "moving_mean":
                v = rng.uniform(-0.1, 0.1, shape)
            elif name == "moving_var":
                v = rng.uniform(0.5, 1.5, shape)
            params[full] = f32(v)
    return params


def forward(layers, P, x, labels, keep_masks, dtype):
    """Training-mode forward. P: name -> torch tensor (trainables require grad). x: NHWC.
    keep_masks: layer index -> keep mask [N, units] (float 0/1). Returns logits, loss, the batch
    statistics of every batch norm (mean, biased var, count) and the smallest top-2 gap (relative
    to the tensor's rms) over every max-pool window, for the near-tie check."""
    a = x
    stats = {}
    min_pool_gap = np.inf
    for L in layers:
        t, p = L["type"], L["prefix"]
        if t == "batchnorm":
            mean = a.mean(dim=(0, 1, 2))
            var = ((a - mean) ** 2).mean(dim=(0, 1, 2))
            m = a.shape[0] * a.shape[1] * a.shape[2]
            stats[p] = (mean.detach(), var.detach(), m)
            a = P[p + ".gamma"] * (a - mean) / torch.sqrt(var + BN_EPS) + P[p + ".beta"]
        elif t == "conv2d":
            w = P[p + ".kernel"].permute(0, 3, 1, 2)  # KRSC -> OIHW
            y = F.conv2d(a.permute(0, 3, 1, 2), w, P[p + ".bias"], padding=L["k"] // 2)
            a = y.permute(0, 2, 3, 1)
            if L["elu"]:
                a = torch.where(a > 0, a, torch.expm1(torch.clamp(a, max=0)))
        elif t == "maxpool":
            n, h, w_, c = a.shape
            win = a.detach().reshape(n, h // 2, 2, w_ // 2, 2, c).permute(0, 1, 3, 5, 2, 4).reshape(-1, 4)
            top2 = torch.topk(win, 2, dim=1).values
            rms = torch.sqrt((a.detach() ** 2).mean())
            min_pool_gap = min(min_pool_gap, float(((top2[:, 0] - top2[:, 1]) / rms).min()))
            a = F.max_pool2d(a.permute(0, 3, 1, 2), 2, 2).permute(0, 2, 3, 1)
        elif t == "flatten":
            a = a.reshape(a.shape[0], -1)  # NHWC memory as is: H, W, C order
        elif t == "dense":
            a = a @ P[p + ".kernel"] + P[p + ".bias"]
            if L["elu"]:
                a = torch.where(a > 0, a, torch.expm1(torch.clamp(a, max=0)))
        elif t == "dropout":
            keep = torch.as_tensor(keep_masks[L["index"]], dtype=dtype).reshape(a.shape)
            a = a * keep / (1.0 - L["rate"])
    logits = a
    loss = F.cross_entropy(logits, labels, reduction="mean")
    return logits, loss, stats, min_pool_gap


def train(layers, init, x_np, labels_np, keep_masks_per_step, dtype):
    """Three steps. Returns per-step logits, losses, step-1 gradients, states after each step, the
    parameters after each step, and per-step gradients (for the conditioning analysis)."""
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in init.items()}
    trainable = [f"{L['prefix']}.{n}" for L in layers for n, _, tr in L["params"] if tr]
    state = [f"{L['prefix']}.{n}" for L in layers for n, _, tr in L["params"] if not tr]
    for s in state:
        P[s].requires_grad_(False)
    m = {k: torch.zeros_like(P[k]) for k in trainable}
    v = {k: torch.zeros_like(P[k]) for k in trainable}
    x = torch.tensor(x_np, dtype=dtype)
    labels = torch.tensor(labels_np, dtype=torch.long)
    out = dict(logits=[], loss=[], grads=[], states=[], params=[], min_pool_gap=np.inf)
    for t in range(1, STEPS + 1):
        for k in trainable:
            P[k].grad = None
        logits, loss, stats, gap = forward(layers, P, x, labels, keep_masks_per_step[t - 1], dtype)
        out["min_pool_gap"] = min(out["min_pool_gap"], gap)
        loss.backward()
        with torch.no_grad():
            for prefix, (mean, var, cnt) in stats.items():
                P[prefix + ".moving_mean"].mul_(BN_MOMENTUM).add_((1 - BN_MOMENTUM) * mean)
                P[prefix + ".moving_var"].mul_(BN_MOMENTUM).add_((1 - BN_MOMENTUM) * var * cnt / (cnt - 1))
            grads = {k: P[k].grad.detach().clone() for k in trainable}
            lr_t = LR * np.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
            for k in trainable:
                g = grads[k]
                m[k].mul_(BETA1).add_((1 - BETA1) * g)
                v[k].mul_(BETA2).add_((1 - BETA2) * g * g)
                P[k].sub_(lr_t * m[k] / (torch.sqrt(v[k]) + ADAM_EPS))
        out["logits"].append(logits.detach().numpy().astype(np.float64))
        out["loss"].append(float(loss.detach()))
        out["grads"].append({k: g.numpy().astype(np.float64) for k, g in grads.items()})
        out["states"].append({s: P[s].detach().numpy().astype(np.float64).copy() for s in state})
        out["params"].append({k: P[k].detach().numpy().astype(np.float64).copy() for k in trainable})
    return out, trainable, state


# ---- Calibration: how far a float32 computation lands from the float64 reference ----------------
def calibrate(ref, f32run, trainable):
    """Prints, per tensor, the largest float32-vs-float64 difference relative to the tensor's largest
    reference magnitude: the scale the C++ test's tolerances are set against."""
    print("float32 (torch, CPU) vs float64 reference:")
    for t in range(STEPS):
        d = np.abs(f32run["logits"][t] - ref["logits"][t]).max()
        print(f"  step {t + 1}: logits max |diff| {d:.3g} (max |logit| {np.abs(ref['logits'][t]).max():.3g}), "
              f"loss diff {abs(f32run['loss'][t] - ref['loss'][t]):.3g} (loss {ref['loss'][t]:.6f})")
    print("  step 1 gradients: name, max|g|, max|diff|/max|g|")
    worst = 0.0
    for k in trainable:
        g = ref["grads"][0][k]
        d = np.abs(f32run["grads"][0][k] - g).max() / max(np.abs(g).max(), 1e-30)
        worst = max(worst, d)
        print(f"    {k:24s} {np.abs(g).max():10.3g} {d:10.3g}")
    print(f"  worst relative gradient difference {worst:.3g}")
    print("  parameters after 3 Adam steps: name, max|diff|, elements with |diff| > 1e-5, > 1e-4")
    for k in trainable:
        d = np.abs(f32run["params"][-1][k] - ref["params"][-1][k])
        print(f"    {k:24s} {d.max():10.3g} {int((d > 1e-5).sum()):6d} {int((d > 1e-4).sum()):6d}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1] if __doc__ else None)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "eurosat_cnn_golden.bin"))
    ap.add_argument("--calibrate", action="store_true", help="also run in float32 and report the differences")
    ap.add_argument("--min-gap", type=float, default=1e-4)
    ap.add_argument("--no-dropout", action="store_true", help="all-ones dropout masks (not the committed file)")
    args = ap.parse_args()

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    classes, batch, seed = 10, 4, 20240611
    dropout_seed, first_step = DROPOUT_SEED, FIRST_STEP
    layers = load_layers(classes)
    rng = np.random.default_rng(seed)
    init = init_params(layers, rng)
    x = rng.uniform(0.0, 1.0, (batch, 64, 64, 3)).astype(np.float32)
    labels = np.array([3, 7, 0, 9], dtype=np.int32)

    philox_known_answers()
    keep_masks = []
    for t in range(STEPS):
        masks = {}
        for L in layers:
            if L["type"] == "dropout":
                n = batch * layers[L["index"] - 1]["params"][0][1][1]  # units of the dense before it
                masks[L["index"]] = (np.ones(n, bool) if args.no_dropout
                                     else dropout_keep(dropout_seed, first_step + t, L["index"], n))
        keep_masks.append(masks)

    ref, trainable, state = train(layers, init, x.astype(np.float64), labels, keep_masks, torch.float64)
    print(f"losses {ref['loss']}")
    print(f"smallest max-pool top-2 gap / rms: {ref['min_pool_gap']:.3g}")
    # A max-pool window whose two largest inputs are nearly equal could pick a different winner in
    # float32 and route a gradient elsewhere: refuse such data (float32 conv outputs are ~1e-6 off).
    if ref["min_pool_gap"] < args.min_gap:
        sys.exit("near-tie in a max-pool window: change the seed")
    for t, masks in enumerate(keep_masks):
        print(f"step {t + 1} dropout keep fractions: " +
              ", ".join(f"L{i:02d} {m.mean():.3f}" for i, m in masks.items()))

    if args.calibrate:
        f32run, _, _ = train(layers, {k: v.astype(np.float32) for k, v in init.items()},
                             x, labels, keep_masks, torch.float32)
        calibrate(ref, f32run, trainable)

    info = (
        "LCGOLDEN v1: model/eurosat_cnn.json, 10 classes, batch 4, made by tests/golden/make_golden.py "
        f"(PyTorch {torch.__version__}, float64). Three training steps on the same batch (forward in "
        "training mode, mean softmax cross-entropy, backward, batch-norm moving statistics with the "
        "unbiased batch variance, Keras Adam lr 1e-3 b1 0.9 b2 0.999 eps 1e-7, t = 1..3). Dropout: "
        + ("DISABLED (all-ones masks)" if args.no_dropout else
           f"real Philox masks, seed {dropout_seed}, steps {first_step}..{first_step + STEPS - 1}")
        + ". Records: input, labels, init.<name> (all parameters and states), stepT.logits and stepT.loss "
        "(float64), step1.grad.<name>, stepT.<state name> for T = 1 and 3, step3.<name> (parameters after "
        "three Adam steps); everything else float32.")
    recs = [("info", np.frombuffer(info.encode(), dtype=np.uint8)),
            ("config.classes", np.array(classes, np.int32)),
            ("config.dropout_enabled", np.array(0 if args.no_dropout else 1, np.int32)),
            ("config.dropout_seed", np.array(dropout_seed, np.int64)),
            ("config.first_step", np.array(first_step, np.int64)),
            ("input", x),
            ("labels", labels)]
    for L in layers:
        for n, _, _ in L["params"]:
            k = f"{L['prefix']}.{n}"
            recs.append((f"init.{k}", init[k].astype(np.float32)))
    for t in range(STEPS):
        recs.append((f"step{t + 1}.logits", ref["logits"][t]))
        recs.append((f"step{t + 1}.loss", np.array(ref["loss"][t], np.float64)))
    for k in trainable:
        recs.append((f"step1.grad.{k}", ref["grads"][0][k].astype(np.float32)))
    for t in (0, STEPS - 1):
        for s in state:
            recs.append((f"step{t + 1}.{s}", ref["states"][t][s].astype(np.float32)))
    for k in trainable:
        recs.append((f"step{STEPS}.{k}", ref["params"][-1][k].astype(np.float32)))
    lcgolden.write(args.out, recs)
    back = lcgolden.read(args.out)
    assert list(back) == [r[0] for r in recs]
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes, {len(recs)} records")


if __name__ == "__main__":
    main()
