#!/usr/bin/env python3
# Trains the seed network (model/eurosat_cnn.json) with our recipe in PyTorch on the CPU and prints
# its steady-state training speed, and, given our binary, `landcover train --backend cpu`'s speed
# on the same data and the ratio. A CPU-to-CPU comparison on the same machine and thread count:
# never a GPU number. Recipe (docs/MODEL.md): batch 16, Keras Adam (lr 1e-3, eps 1e-7 on the
# uncorrected sqrt(v)), batch norm in training mode, dropout 0.5, random horizontal flips, x / 255,
# shuffled epochs, last partial batch dropped, 80/20 stratified split (training images only).
# A step includes assembling the batch (gather, flip, scale), forward, backward and Adam, as ours
# does. PyTorch is used only by the profiling scripts.
# Depends on: PyTorch, numpy, Pillow, profiling/torch_lc.py.
#
#   $VENV/bin/python profiling/torch_train_cpu.py --data ../shared/datasets/ucmerced64 \
#       --steps 200 --landcover build/landcover
import argparse
import glob
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_lc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="PyTorch CPU training speed of the seed network, next to ours.")
    ap.add_argument("--data", default=os.path.join(torch_lc.ROOT, "..", "shared", "datasets", "ucmerced64"),
                    help="class-per-folder data set (default: ../shared/datasets/ucmerced64)")
    ap.add_argument("--model", default=torch_lc.DEFAULT_MODEL, help="our JSON model file")
    ap.add_argument("--steps", type=int, default=200, help="timed training steps (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=20, help="steps left out of the timing")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (match landcover's)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--channels-last", action="store_true", help="run torch's convolutions in NHWC memory")
    ap.add_argument("--landcover", help="our binary: also run `landcover train --backend cpu` and compare")
    ap.add_argument("--landcover-epochs", type=int, default=1, help="epochs of our run")
    ap.add_argument("--landcover-backend", default="cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images, labels, classes = torch_lc.load_class_folders(args.data)
    train_idx, _ = torch_lc.stratified_split(labels, 0.2, args.seed)
    steps_per_epoch = len(train_idx) // args.batch
    print(f"data: {args.data}: {len(images)} images, {len(classes)} classes, {len(train_idx)} for training "
          f"({steps_per_epoch} steps of {args.batch} per epoch)")

    spec = torch_lc.load_spec(args.model)
    net = torch_lc.LcNet(spec, len(classes))
    net.glorot_init(args.seed)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    opt = torch_lc.KerasAdam(net.parameters())
    print(f"model: {args.model}: {net.trainable_count()} trainable parameters; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {'channels_last' if args.channels_last else 'NCHW'} convolutions")

    data = torch.from_numpy(images)  # uint8 NHWC, decoded once (ours caches the decoded set too)
    lab = torch.from_numpy(labels)
    rng = np.random.default_rng(args.seed)
    order, pos = rng.permutation(train_idx), 0
    total = args.warmup + args.steps
    times, losses, cpu_times = [], [], []
    cpu0 = time.process_time()
    load = os.getloadavg()[0]
    for step in range(total):
        t0 = time.perf_counter()
        if pos + args.batch > len(order):  # new epoch: reshuffle, drop the partial batch
            order, pos = rng.permutation(train_idx), 0
        idx = torch.from_numpy(order[pos:pos + args.batch])
        pos += args.batch
        x = data[idx].float().div_(255.0)  # NHWC
        flip = torch.from_numpy(rng.random(args.batch) < 0.5)
        x[flip] = x[flip].flip(2)  # mirror along W
        y = lab[idx]
        logits = net(x, args.channels_last)
        loss = F.cross_entropy(logits, y)
        for p in opt.params:
            p.grad = None
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time())
    steady = times[args.warmup:]
    ips = args.batch * len(steady) / sum(steady)
    cpu_s = cpu_times[-1] - cpu_times[args.warmup - 1] if args.warmup > 0 else cpu_times[-1] - cpu0
    print(f"loss: first {losses[0]:.4f}, mean of the last 20 steps {np.mean(losses[-20:]):.4f}")
    print(f"torch CPU training: {ips:.1f} images/s (steady state: {len(steady)} steps after {args.warmup} warm-up "
          f"steps; {1e3 * np.median(steady):.1f} ms median step, batch {args.batch}, {args.threads} threads)")
    print(f"torch CPU training per CPU-second of this process: {args.batch * len(steady) / cpu_s:.1f} images "
          f"(less sensitive to other load; load average at start {load:.1f} on {os.cpu_count()} cores"
          + (": the machine was busy, wall-clock numbers are pessimistic" if load > (os.cpu_count() or 1) else "")
          + ")")

    if args.landcover:
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"torch_train_cpu_{os.getpid()}.ckpt")
        ours = torch_lc.run_landcover(
            [args.landcover, "train", "--data", args.data, "--epochs", str(args.landcover_epochs),
             "--batch", str(args.batch), "--backend", args.landcover_backend, "--seed", str(args.seed),
             "--out", out, "--metrics", out + ".csv"],
            r"([0-9.]+) img/s training", "images/s")
        for f in glob.glob(out + "*"):  # the checkpoint, metrics and confusion files of our run
            os.remove(f)
        if ours is not None:
            print(f"landcover ({args.landcover_backend} backend) training: {ours:.1f} images/s")
            print(f"ratio landcover / torch (CPU, same machine): {ours / ips:.2f}")


if __name__ == "__main__":
    main()
