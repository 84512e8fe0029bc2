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
# |lr_t m_t / (sqrt(v_t) + eps)| / lr for t <= 3, maximised over all gradient sequences (Cauchy-Schwarz:
# sqrt(1-b2^t)/(1-b1^t) * (1-b1)/sqrt(1-b2) * sqrt(sum_i b1^(2(t-i)) / b2^(t-i))): 1.0000, 1.0014, 1.0036.
ADAM_UPDATE_MAX = 1.0036
DROPOUT_SEED = 0x5EED0F60D5  # any 64-bit value: exercises both key words
FIRST_STEP = 0  # dropout's step key of the first step: Adam steps completed before it
SEED = 1
MIN_POOL_GAP = 1e-5
# The error model of the Adam bound: every gradient element off by up to KAPPA * max|g| of its tensor
# (7x the worst float32 difference measured with --calibrate; the test checks step 1 against it).
KAPPA = 1e-4


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


def dropout_keep(seed, step, layer, n, rate=0.5):
    """The keep mask (bool [n]) of the dropout layer with index `layer` at (seed, step), from
    kernels/dropout/dropout.h: element i is kept iff
      philox4x32_10(counter = {lo32(i/4), hi32(i/4), lo32(step), stream}, key = {lo32(seed), hi32(seed)})
        .v[i % 4] >= floor(rate * 2^32),
    stream = the layer index, step = optimizer steps completed before this training step (0, 1, 2)."""
    g = np.arange((n + 3) // 4, dtype=np.uint64)
    words = philox4x32_10(g & np.uint64(0xFFFFFFFF), g >> np.uint64(32),
                          np.full_like(g, step & 0xFFFFFFFF), np.full_like(g, layer),
                          seed & 0xFFFFFFFF, seed >> 32)
    w = np.stack(words, axis=1).reshape(-1)[:n]  # element i = word i % 4 of group i / 4
    return w >= np.uint64(int(rate * 4294967296.0))


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
            stats.setdefault("pool_inputs", []).append(a.detach().numpy().astype(np.float64))
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


def train(layers, init, x_np, labels_np, keep_masks_per_step, dtype, grad_noise=None):
    """Three steps. Returns per-step logits, losses, gradients, states and parameters after each
    step. grad_noise(t, name, g) -> g', if given, perturbs the gradients Adam sees (sensitivity runs)."""
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in init.items()}
    trainable = [f"{L['prefix']}.{n}" for L in layers for n, _, tr in L["params"] if tr]
    state = [f"{L['prefix']}.{n}" for L in layers for n, _, tr in L["params"] if not tr]
    for s in state:
        P[s].requires_grad_(False)
    m = {k: torch.zeros_like(P[k]) for k in trainable}
    v = {k: torch.zeros_like(P[k]) for k in trainable}
    x = torch.tensor(x_np, dtype=dtype)
    labels = torch.tensor(labels_np, dtype=torch.long)
    out = dict(logits=[], loss=[], grads=[], states=[], params=[], min_pool_gap=[], pool_inputs=[])
    for t in range(1, STEPS + 1):
        for k in trainable:
            P[k].grad = None
        logits, loss, stats, gap = forward(layers, P, x, labels, keep_masks_per_step[t - 1], dtype)
        out["min_pool_gap"].append(gap)
        loss.backward()
        with torch.no_grad():
            pool_inputs = stats.pop("pool_inputs")
            for prefix, (mean, var, cnt) in stats.items():
                P[prefix + ".moving_mean"].mul_(BN_MOMENTUM).add_((1 - BN_MOMENTUM) * mean)
                P[prefix + ".moving_var"].mul_(BN_MOMENTUM).add_((1 - BN_MOMENTUM) * var * cnt / (cnt - 1))
            grads = {k: P[k].grad.detach().clone() for k in trainable}
            if grad_noise is not None:
                grads = {k: grad_noise(t, k, g) for k, g in grads.items()}
            lr_t = LR * np.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
            for k in trainable:
                g = grads[k]
                m[k].mul_(BETA1).add_((1 - BETA1) * g)
                v[k].mul_(BETA2).add_((1 - BETA2) * g * g)
                P[k].sub_(lr_t * m[k] / (torch.sqrt(v[k]) + ADAM_EPS))
        out["pool_inputs"].append(pool_inputs)
        out["logits"].append(logits.detach().numpy().astype(np.float64))
        out["loss"].append(float(loss.detach()))
        out["grads"].append({k: g.numpy().astype(np.float64) for k, g in grads.items()})
        out["states"].append({s: P[s].detach().numpy().astype(np.float64).copy() for s in state})
        out["params"].append({k: P[k].detach().numpy().astype(np.float64).copy() for k in trainable})
    return out, trainable, state


# ---- Which parameters the test can compare tightly after three Adam steps ----------------------
def adam_error_bound(grads, kappa):
    """Per trainable element, an upper bound on |p3 - p3_ref| when every gradient element g_t of a
    tensor is off by at most kappa * max|g_t| (over that tensor at step t), exact zeros excepted
    (they come from dropped units and are exact in any implementation with the same masks).
    Adam's update u_t = c_t m_t / (sqrt(v_t) + eps), c_t = lr sqrt(1 - b2^t) / (1 - b1^t):
      |dm_t| <= dm = (1 - b1) sum_i b1^(t-i) D_i
      |d sqrt(v_t)| <= ds = sqrt((1 - b2) sum_i b2^(t-i) D_i^2)   (triangle inequality: sqrt(v) is a
                                                                   weighted 2-norm of the g_i)
      |du_t| <= c_t (dm + |m| ds / (sqrt(v) + eps)) / (sqrt(v) - ds + eps)   when sqrt(v) > ds,
    else the update is not determined; either way no more than 2 max|u| = 2 * 1.0036 lr per step.
    Returns name -> bound array (summed over the steps), in parameter units."""
    bound = {}
    for k in grads[0]:
        m = np.zeros_like(grads[0][k])
        v = np.zeros_like(m)
        dms = []
        d2s = []
        total = np.zeros_like(m)
        for t, g_all in enumerate(grads, start=1):
            g = g_all[k]
            D = kappa * np.abs(g).max() * (g != 0)
            m = BETA1 * m + (1 - BETA1) * g
            v = BETA2 * v + (1 - BETA2) * g * g
            dms = [BETA1 * x for x in dms] + [(1 - BETA1) * D]
            d2s = [BETA2 * x for x in d2s] + [(1 - BETA2) * D * D]
            dm = sum(dms)
            ds = np.sqrt(sum(d2s))
            c = LR * np.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
            sv = np.sqrt(v)
            ok = sv - ds > 0
            den = np.where(ok, sv - ds + ADAM_EPS, 1.0)
            b = c * (dm + np.abs(m) * ds / (sv + ADAM_EPS)) / den
            total += np.minimum(np.where(ok, b, np.inf), 2 * ADAM_UPDATE_MAX * LR)
        bound[k] = total
    return bound


# ---- Calibration: how far a float32 computation and the error model land from the reference -----
def max_rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def compare_runs(ref, run, trainable, state, label):
    """Largest differences of `run` against the reference, per quantity; printed, and returned."""
    r = dict(logits=[], loss=[], grad=[], state=[])
    for t in range(STEPS):
        r["logits"].append(max_rel(run["logits"][t], ref["logits"][t]))
        r["loss"].append(abs(run["loss"][t] - ref["loss"][t]) / abs(ref["loss"][t]))
        r["grad"].append(max(max_rel(run["grads"][t][k], ref["grads"][t][k]) for k in trainable))
        r["state"].append(max(float(np.abs((run["states"][t][s] - ref["states"][t][s]) / ref["states"][t][s]).max())
                              if s.endswith("moving_var") else max_rel(run["states"][t][s], ref["states"][t][s])
                              for s in state))
    for t in range(STEPS):
        print(f"  {label} step {t + 1}: logits max|diff|/max|ref| {r['logits'][t]:.3g}, loss |diff|/loss "
              f"{r['loss'][t]:.3g}, gradients max|diff|/max|ref| (worst tensor) {r['grad'][t]:.3g}, "
              f"moving stats (mean: /max|ref|, var: relative) {r['state'][t]:.3g}")
    return r


def main():
    ap = argparse.ArgumentParser(description="Writes the golden file of tests/golden/golden_test.cpp.")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "eurosat_cnn_golden.bin"))
    ap.add_argument("--seed", type=int, default=SEED, help="weights and batch seed")
    ap.add_argument("--min-gap", type=float, default=MIN_POOL_GAP)
    ap.add_argument("--calibrate", action="store_true",
                    help="also run in float32 and with gradient noise of the error model, and report")
    ap.add_argument("--no-dropout", action="store_true", help="all-ones dropout masks (not the committed file)")
    args = ap.parse_args()

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    classes, batch, seed = 10, 4, args.seed
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
    print("losses " + ", ".join(f"{v:.9f}" for v in ref["loss"]))
    print("smallest max-pool top-2 gap / rms per step: " + ", ".join(f"{g:.3g}" for g in ref["min_pool_gap"]))
    # A max-pool window whose two largest inputs are nearly equal could pick a different winner in
    # float32 and route a gradient elsewhere: refuse such data for step 1, whose gradients the test
    # compares tightly (float32 pool inputs are ~1e-6 of the rms off, see --calibrate).
    if ref["min_pool_gap"][0] < args.min_gap:
        sys.exit(f"near-tie in a max-pool window of step 1 (seed {seed}): choose another --seed")
    for t, masks in enumerate(keep_masks):
        print(f"step {t + 1} dropout keep fractions: " +
              ", ".join(f"L{i:02d} {m.mean():.3f}" for i, m in masks.items()))

    bound = adam_error_bound(ref["grads"], KAPPA)
    allb = np.concatenate([bound[k].ravel() for k in trainable])
    print(f"Adam error bound after {STEPS} steps (kappa {KAPPA:g}): median {np.median(allb):.3g}, "
          f"90% {np.quantile(allb, 0.9):.3g}, 99% {np.quantile(allb, 0.99):.3g}, max {allb.max():.3g}; "
          f"{int((allb > 1e-5).sum())} of {allb.size} above 1e-5, {int((allb > 1e-3).sum())} above 1e-3")

    if args.calibrate:
        f32run, _, _ = train(layers, {k: v.astype(np.float32) for k, v in init.items()},
                             x, labels, keep_masks, torch.float32)
        print("float32 (PyTorch, CPU) against the float64 reference:")
        compare_runs(ref, f32run, trainable, state, "float32")
        for i, (a, b) in enumerate(zip(f32run["pool_inputs"][0], ref["pool_inputs"][0])):
            print(f"  float32 step 1 max-pool {i} input: max|diff| / rms {np.abs(a - b).max() / np.sqrt((b ** 2).mean()):.3g}")
        d = {k: np.abs(f32run["params"][-1][k] - ref["params"][-1][k]) for k in trainable}
        print(f"  float32 parameters after {STEPS} steps: max|diff| {max(float(v.max()) for v in d.values()):.3g}, "
              f"max |diff| / bound {max(float((d[k] / bound[k]).max()) for k in trainable):.3g}")
        # The error model itself: every gradient element of a tensor off by up to kappa * max|g|
        # (uniform, independent; exact zeros stay exact), at every step, on top of the weight
        # differences earlier noisy steps caused. Its effect on steps 2 and 3 sets those tolerances.
        worst = dict(logits=[0.0] * STEPS, loss=[0.0] * STEPS, state=[0.0] * STEPS, ratio=0.0)
        for trial in range(4):
            nrng = np.random.default_rng(1000 + trial)

            def noise(t, k, g):
                gn = g.numpy()
                e = nrng.uniform(-1, 1, gn.shape) * KAPPA * np.abs(gn).max() * (gn != 0)
                return torch.tensor(gn + e, dtype=g.dtype)

            run, _, _ = train(layers, init, x.astype(np.float64), labels, keep_masks, torch.float64, noise)
            r = compare_runs(ref, run, trainable, state, f"noise {trial}")
            for q in ("logits", "loss", "state"):
                worst[q] = [max(a, b) for a, b in zip(worst[q], r[q])]
            worst["ratio"] = max(worst["ratio"], max(
                float((np.abs(run["params"][-1][k] - ref["params"][-1][k]) / bound[k]).max()) for k in trainable))
        print(f"  error model, worst of 4 trials: logits {worst['logits']}, loss {worst['loss']}, "
              f"states {worst['state']}, max |p3 diff| / bound {worst['ratio']:.3g}")

    # Tolerance of every parameter after the last step: the bound rounded up to an eighth of an
    # octave above 1e-7 (tol = 1e-7 * 2^(q/8), q = 0..255), one byte per element.
    q = {k: np.clip(np.ceil(8 * np.log2(np.maximum(bound[k], 1e-7) / 1e-7) - 1e-9), 0, 255).astype(np.uint8)
         for k in trainable}
    for k in trainable:
        assert (1e-7 * 2.0 ** (q[k] / 8.0) >= bound[k] * (1 - 1e-12)).all()

    info = (
        "LCGOLDEN v1: model/eurosat_cnn.json, 10 classes, batch 4, made by tests/golden/make_golden.py "
        f"(seed {seed}, PyTorch {torch.__version__}, float64). Three training steps on the same batch "
        "(forward in training mode, mean softmax cross-entropy, backward, batch-norm moving statistics "
        "with the unbiased batch variance, Keras Adam lr 1e-3 b1 0.9 b2 0.999 eps 1e-7, t = 1..3). Dropout: "
        + ("DISABLED (all-ones masks)" if args.no_dropout else
           f"real Philox masks (kernels/dropout/dropout.h), seed {dropout_seed}, stream = layer index, "
           f"step keys {first_step}..{first_step + STEPS - 1}")
        + ". Records: input, labels, init.<name> (every parameter and statistic), stepT.logits and "
        "stepT.loss (float64, T = 1..3), step1.grad.<name>, stepT.<statistic> (T = 1, 3), step3.<name> "
        f"(trainable parameters after three steps) and step3.tol.<name> (u8 q: tolerance 1e-7 * 2^(q/8), "
        f"the Adam error bound for gradients off by up to {KAPPA:g} * max|g| per tensor); the rest float32.")
    recs = [("info", np.frombuffer(info.encode(), dtype=np.uint8)),
            ("config.classes", np.array(classes, np.int32)),
            ("config.dropout_enabled", np.array(0 if args.no_dropout else 1, np.int32)),
            ("config.dropout_seed", np.array(dropout_seed, np.int64)),
            ("config.first_step", np.array(first_step, np.int64)),
            ("config.kappa", np.array(KAPPA, np.float64)),
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
        recs.append((f"step{STEPS}.tol.{k}", q[k]))
    lcgolden.write(args.out, recs)
    back = lcgolden.read(args.out)
    assert list(back) == [r[0] for r in recs]
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes, {len(recs)} records")


if __name__ == "__main__":
    main()
