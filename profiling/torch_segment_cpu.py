#!/usr/bin/env python3
# Window segmentation (`landcover segment`'s window mode) in PyTorch on the CPU: every output pixel
# of the class map is classified from the 64x64 neighbourhood around it, at a stride, in batches;
# prints windows/s and pixels/s and, given our binary, the same numbers of `landcover segment` on
# the same image and the ratio. A CPU-to-CPU comparison on the same machine: never a GPU number.
# Windows follow kernels/image/image.h's extract_windows contract exactly: map size ceil(H/S) x
# ceil(W/S); map pixel (i, j) stands for the block rows [iS, min(iS+S, H)), centre row
# iS + min(S, H - iS) / 2; the window covers centre - K/2 .. centre - K/2 + K - 1; borders
# reflect-101 (... c b | a b c ..., folded as often as needed); windows numbered row-major; values
# u8 / 255. Inference mode: batch norm with the moving statistics, no dropout.
# Weights: a landcover checkpoint (model/checkpoint.h: model, classes and weights are read from it)
# or, without one, Keras-default random weights (the speed is the same).
# Depends on: PyTorch, numpy, Pillow, profiling/torch_lc.py.
#
#   $VENV/bin/python profiling/torch_segment_cpu.py \
#       --image ../shared/scenes/landsat_grenada_438x500.png --stride 4 [--checkpoint run.ckpt \
#       --landcover build/landcover]
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_lc  # noqa: E402


def reflect101(i, n):
    """Reflect-101 of integer indices into [0, n) (period 2(n-1); n == 1 maps everything to 0)."""
    if n <= 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    m = np.mod(i, period)
    return np.where(m < n, m, period - m)


def window_rows(n, stride, window):
    """[map size][window] source indices along one axis (the contract's geometry)."""
    i = np.arange((n + stride - 1) // stride, dtype=np.int64)
    start = i * stride
    centre = start + np.minimum(stride, n - start) // 2
    k = np.arange(window, dtype=np.int64)
    return reflect101(centre[:, None] - window // 2 + k[None, :], n)


def extract_windows(img, ys, xs, first, count):
    """Windows [first, first + count) (row-major over the map) as float [count][K][K][C]."""
    n = torch.arange(first, first + count)
    mw = xs.shape[0]
    rows = ys[n // mw]  # [count][K]
    cols = xs[n % mw]
    return img[rows[:, :, None], cols[:, None, :]].float().div_(255.0)


def main():
    ap = argparse.ArgumentParser(description="PyTorch CPU window segmentation speed, next to ours.")
    ap.add_argument("--image", default=os.path.join(torch_lc.ROOT, "..", "shared", "scenes",
                                                    "landsat_grenada_438x500.png"))
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--batch", type=int, default=256, help="windows per forward pass")
    ap.add_argument("--checkpoint", help="landcover checkpoint (model, classes, weights)")
    ap.add_argument("--classes", type=int, default=10, help="classes of the random-weight model (no checkpoint)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-windows", type=int, default=0, help="time only the first N windows (0: all)")
    ap.add_argument("--warmup-batches", type=int, default=1, help="batches left out of the timing")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--save-map", help="write the class map as a .npy file (int32 [map_h][map_w])")
    ap.add_argument("--landcover", help="our binary: also run `landcover segment` and compare (needs --checkpoint)")
    ap.add_argument("--landcover-args",
                    default="segment --model {checkpoint} --mode window --stride {stride} --batch {batch} "
                            "--backend cpu --out-dir {out} {image}",
                    help="arguments of our run ({image}, {checkpoint}, {stride}, {batch}, {out} are filled in)")
    args = ap.parse_args()

    from PIL import Image
    torch.set_num_threads(args.threads)
    rgb = np.asarray(Image.open(args.image).convert("RGB"), dtype=np.uint8)
    H, W, _ = rgb.shape
    if args.checkpoint:
        spec, classes, tensors = torch_lc.read_checkpoint(args.checkpoint)
        net = torch_lc.LcNet(spec, len(classes))
        net.load_ours(tensors)
        source = f"checkpoint {args.checkpoint}"
    else:
        spec = torch_lc.load_spec()
        classes = [f"class{i}" for i in range(args.classes)]
        net = torch_lc.LcNet(spec, len(classes))
        net.glorot_init(0)
        source = "random Keras-default weights"
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.eval()
    K = spec["input"][0]
    assert spec["input"][0] == spec["input"][1], "square model input expected"
    ys = torch.from_numpy(window_rows(H, args.stride, K))
    xs = torch.from_numpy(window_rows(W, args.stride, K))
    mh, mw = ys.shape[0], xs.shape[0]
    total = mh * mw if not args.max_windows else min(mh * mw, args.max_windows)
    img = torch.from_numpy(rgb)
    print(f"image {args.image}: {W}x{H}, stride {args.stride}: map {mw}x{mh} = {mh * mw} windows of {K}x{K}"
          f" ({total} timed); {source}; torch {torch.__version__}, {args.threads} threads, batch {args.batch}")

    cls_map = np.zeros(mh * mw, np.int32)
    load = os.getloadavg()[0]
    timed_windows, t_start, c_start = 0, None, None
    with torch.inference_mode():
        for b, first in enumerate(range(0, total, args.batch)):
            if b == args.warmup_batches:
                t_start, c_start = time.perf_counter(), time.process_time()
            count = min(args.batch, total - first)
            x = extract_windows(img, ys, xs, first, count)
            logits = net(x, args.channels_last)
            probs = torch.softmax(logits, dim=1)
            cls_map[first:first + count] = probs.argmax(dim=1).numpy()
            if t_start is not None:
                timed_windows += count
    if t_start is None or timed_windows == 0:
        sys.exit("nothing timed: raise --max-windows or lower --warmup-batches")
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - c_start
    wps = timed_windows / wall
    pps = wps * (H * W) / (mh * mw)  # input pixels covered per second (each window stands for a block)
    counts = np.bincount(cls_map[:total], minlength=len(classes))
    top = np.argsort(-counts)[:3]
    print("class fractions (top 3): " + ", ".join(f"{classes[i]} {counts[i] / total:.3f}" for i in top))
    print(f"torch CPU segmentation: {wps:.1f} windows/s, {pps:.0f} input pixels/s "
          f"({timed_windows} windows in {wall:.2f} s after {args.warmup_batches} warm-up batch(es); "
          f"{timed_windows / cpu:.1f} windows per CPU-second; load average at start {load:.1f} on "
          f"{os.cpu_count()} cores)")
    if args.save_map:
        np.save(args.save_map, cls_map.reshape(mh, mw))

    if args.landcover:
        if not args.checkpoint:
            sys.exit("--landcover needs --checkpoint (our segment command classifies with a trained model)")
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"torch_segment_cpu_{os.getpid()}")
        cmd = [args.landcover] + args.landcover_args.format(image=args.image, checkpoint=args.checkpoint,
                                                            stride=args.stride, batch=args.batch,
                                                            out=out).split()
        ours = torch_lc.run_landcover(cmd, r"([0-9.]+)\s*windows/s", "windows/s")
        if ours is not None:
            print(f"landcover segmentation: {ours:.1f} windows/s")
            print(f"ratio landcover / torch (CPU, same machine): {ours / wps:.2f}")


if __name__ == "__main__":
    main()
