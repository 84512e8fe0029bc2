# Shared pieces of the PyTorch comparison scripts (profiling/torch_train_cpu.py,
# profiling/torch_segment_cpu.py): the model built from our JSON model file with our semantics
# (docs/MODEL.md), Keras' Adam, a reader of our checkpoint format (model/checkpoint.h) and of
# class-per-folder data sets. PyTorch is used only by these profiling scripts, never by the build.
# Depends on: PyTorch, numpy, Pillow.
import json
import os
import re
import struct
import subprocess
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, "model", "eurosat_cnn.json")


# ---- The network ---------------------------------------------------------------------------------
class LcNet(nn.Module):
    """Our model file as a torch module. Activations are NCHW inside torch (its fast CPU layout;
    channels_last memory format optional), but the interface and the weights are ours: input NHWC
    float in [0, 1], conv kernels KRSC, dense kernels [in][out], flatten in H, W, C order (Keras).
    Batch norm: epsilon and momentum from the file (Keras convention: moving = momentum * moving +
    (1 - momentum) * batch; torch's momentum is 1 - that), unbiased batch variance in the moving
    average (as torch and TF's fused batch norm do)."""

    def __init__(self, spec, classes):
        super().__init__()
        h, w, c = spec["input"]
        self.input_shape = (h, w, c)
        self.names = []  # (our parameter name, torch module, attribute, kind)
        self.layers = nn.ModuleList()
        self.kinds = []
        for i, L in enumerate(spec["layers"]):
            t = L["type"]
            prefix = f"L{i:02d}.{t}"
            if t == "batchnorm":
                eps = L.get("epsilon", 1e-3)
                mom = L.get("momentum", 0.99)
                m = nn.BatchNorm2d(c, eps=eps, momentum=1.0 - mom)
                self.names += [(prefix + ".gamma", m, "weight", "vec"), (prefix + ".beta", m, "bias", "vec"),
                               (prefix + ".moving_mean", m, "running_mean", "vec"),
                               (prefix + ".moving_var", m, "running_var", "vec")]
            elif t == "conv2d":
                k, f_ = L["kernel"], L["filters"]
                m = nn.Conv2d(c, f_, k, padding=k // 2)
                self.names += [(prefix + ".kernel", m, "weight", "krsc"), (prefix + ".bias", m, "bias", "vec")]
                c = f_
            elif t == "maxpool":
                m = nn.MaxPool2d(2, 2)
                h, w = h // 2, w // 2
            elif t == "flatten":
                m = nn.Identity()
                c, h, w = h * w * c, 1, 1
            elif t == "dense":
                u = classes if L["units"] == "classes" else L["units"]
                m = nn.Linear(c, u)
                self.names += [(prefix + ".kernel", m, "weight", "io"), (prefix + ".bias", m, "bias", "vec")]
                c = u
            elif t == "dropout":
                m = nn.Dropout(L["rate"])
            else:
                raise ValueError(f"unknown layer type {t}")
            self.layers.append(m)
            self.kinds.append((t, L.get("activation") == "elu"))

    def forward(self, x_nhwc, channels_last=False):
        a = x_nhwc.permute(0, 3, 1, 2)
        a = a.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        for m, (t, elu) in zip(self.layers, self.kinds):
            if t == "flatten":
                a = a.permute(0, 2, 3, 1).reshape(a.shape[0], -1)  # H, W, C order (Keras)
            else:
                a = m(a)
            if elu:
                a = F.elu(a)
        return a

    def glorot_init(self, seed):
        """Keras' defaults (docs/MODEL.md): Glorot-uniform kernels, zero biases, gamma 1, beta 0."""
        g = torch.Generator().manual_seed(seed)
        for name, m, attr, kind in self.names:
            p = getattr(m, attr)
            with torch.no_grad():
                if kind == "krsc":
                    fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                    fan_out = p.shape[0] * p.shape[2] * p.shape[3]
                elif kind == "io":
                    fan_in, fan_out = p.shape[1], p.shape[0]
                else:
                    continue
                lim = (6.0 / (fan_in + fan_out)) ** 0.5
                p.copy_(torch.rand(p.shape, generator=g) * 2 * lim - lim)
        for m in self.layers:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.zeros_(m.bias)

    def load_ours(self, tensors):
        """Sets every parameter and statistic from {our name: numpy array in our layout}."""
        for name, m, attr, kind in self.names:
            if name not in tensors:
                raise ValueError(f"checkpoint has no tensor {name}")
            v = torch.from_numpy(np.array(tensors[name], dtype=np.float32))  # a writable copy
            if kind == "krsc":
                v = v.permute(0, 3, 1, 2)  # KRSC -> OIHW
            elif kind == "io":
                v = v.t()  # [in][out] -> [out][in]
            p = getattr(m, attr)
            if tuple(v.shape) != tuple(p.shape):
                raise ValueError(f"{name}: shape {tuple(v.shape)}, the model expects {tuple(p.shape)}")
            with torch.no_grad():
                p.copy_(v)

    def trainable_count(self):
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def load_spec(path=DEFAULT_MODEL):
    with open(path) as f:
        return json.load(f)


# ---- Keras' Adam (kernels/adam/adam.h), by hand ------------------------------------------------
class KerasAdam:
    """m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); lr_t = lr sqrt(1 - b2^t) / (1 - b1^t);
    p -= lr_t m / (sqrt(v) + eps): epsilon on the uncorrected sqrt(v), unlike torch.optim.Adam."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        lr_t = self.lr * (1 - self.b2 ** self.t) ** 0.5 / (1 - self.b1 ** self.t)
        grads = [p.grad for p in self.params]
        torch._foreach_lerp_(self.m, grads, 1 - self.b1)
        sq = torch._foreach_mul(grads, grads)
        torch._foreach_lerp_(self.v, sq, 1 - self.b2)
        den = torch._foreach_sqrt(self.v)
        torch._foreach_add_(den, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, den, value=-lr_t)


# ---- Our checkpoint format (model/checkpoint.h, version 1) ---------------------------------------
def read_checkpoint(path):
    """Returns (model spec dict, class names, {tensor name: numpy array}) from a landcover
    checkpoint; checks magic, version, sizes and both CRC-32s."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"LCCKPT\0\0":
        raise ValueError(f"checkpoint {path}: bad magic: not a landcover checkpoint")
    version, _flags, total = struct.unpack_from("<IIQ", data, 8)
    if version != 1:
        raise ValueError(f"checkpoint {path}: unsupported version {version} (this reader reads 1)")
    (hcrc,) = struct.unpack_from("<I", data, 24)
    if zlib.crc32(data[:24]) != hcrc:
        raise ValueError(f"checkpoint {path}: header checksum mismatch")
    if total != len(data):
        raise ValueError(f"checkpoint {path}: file has {len(data)} bytes, the header says {total}")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise ValueError(f"checkpoint {path}: checksum mismatch: the file is corrupt")
    pos = 28
    sections = {}
    while pos < len(data) - 4:
        tag = data[pos:pos + 4].decode("ascii")
        (size,) = struct.unpack_from("<Q", data, pos + 4)
        sections[tag] = data[pos + 12:pos + 12 + size]
        pos += 12 + size

    def string(buf, p):
        (n,) = struct.unpack_from("<I", buf, p)
        return buf[p + 4:p + 4 + n].decode("utf-8"), p + 4 + n

    spec = json.loads(string(sections["MODL"], 0)[0])
    buf = sections["CLAS"]
    (k,) = struct.unpack_from("<I", buf, 0)
    p, classes = 4, []
    for _ in range(k):
        s, p = string(buf, p)
        classes.append(s)
    buf = sections["PARM"]
    (count,) = struct.unpack_from("<I", buf, 0)
    p, tensors = 4, {}
    for _ in range(count):
        name, p = string(buf, p)
        (rank,) = struct.unpack_from("<I", buf, p)
        dims = struct.unpack_from(f"<{rank}q", buf, p + 4)
        p += 4 + 8 * rank
        n = int(np.prod(dims, dtype=np.int64)) if rank else 1
        tensors[name] = np.frombuffer(buf, dtype="<f4", count=n, offset=p).reshape(dims)
        p += 4 * n
    return spec, classes, tensors


# ---- Data ----------------------------------------------------------------------------------------
def load_class_folders(root, size=(64, 64), max_per_class=0):
    """A class-per-folder data set decoded with Pillow: (uint8 [N][H][W][3], int64 labels, class
    names). Class index = position in the sorted folder names (docs/MODEL.md). Images of another size
    are resized with area averaging (Pillow's BOX filter), as our resize contract does."""
    from PIL import Image
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise SystemExit(f"{root}: no class folders")
    images, labels = [], []
    for ci, c in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(root, c))
                       if f.lower().endswith((".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")))
        if max_per_class:
            files = files[:max_per_class]
        for f in files:
            im = Image.open(os.path.join(root, c, f)).convert("RGB")
            if im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BOX)
            images.append(np.asarray(im, dtype=np.uint8))
            labels.append(ci)
    return np.stack(images), np.asarray(labels, np.int64), classes


def stratified_split(labels, val_share, seed):
    """Indices (train, validation): val_share of every class to validation, deterministic."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        nv = int(round(len(idx) * val_share))
        val += list(idx[:nv])
        train += list(idx[nv:])
    return np.asarray(train), np.asarray(val)


# ---- Running our binary --------------------------------------------------------------------------
def run_landcover(cmd, pattern, what):
    """Runs our binary, echoes its output's tail, returns the float the regex `pattern` captures
    (the last match) or None."""
    print(f"running: {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout
    tail = "\n".join(out.strip().splitlines()[-5:])
    print("  " + tail.replace("\n", "\n  "))
    if proc.returncode != 0:
        print(f"  landcover exited with status {proc.returncode}; no {what} to compare")
        return None
    found = re.findall(pattern, out)
    if not found:
        print(f"  could not find {what} in its output (pattern {pattern!r})")
        return None
    return float(found[-1])
