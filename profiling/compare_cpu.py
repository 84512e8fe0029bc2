#!/usr/bin/env python3
# landcover's `cpu` backend against the notebook's Keras code (TensorFlow-CPU) and PyTorch-CPU on the
# seed network, same data, same thread count, in one run: training images/s, window segmentation
# windows/s, the notebook's pixel method against `segment --mode pixel`, the ratios, and the peak
# memory (maximum resident set size) of every run. CPU against CPU on the same machine: none of these
# numbers says anything about GPU speed.
#
# Runs with any Python 3 (standard library only); TensorFlow and PyTorch run in their own
# interpreters, given by --tf-python and --torch-python (venvs: profiling/README.md). Each measurement
# is one child process (its peak RSS from wait4): profiling/keras_lc.py for Keras,
# profiling/torch_train_cpu.py and torch_segment_cpu.py for PyTorch, `landcover` for ours.
#
#   python3 profiling/compare_cpu.py --landcover build/landcover \
#       --tf-python ~/venv-tf/bin/python --torch-python ~/venv-torch/bin/python [--repeats 3]
#
# Figures:
#   training   images/s in steady state: Keras, the epochs after the first (fit on tf.data); torch,
#              the steps after its warm-up; landcover, the epochs after the first (its per-epoch
#              training figure, validation excluded, as Keras' and torch's)
#   window     windows/s from the decoded image to the class map: Keras model.predict on windows cut
#              with numpy; torch the same with its own forward; landcover `segment --mode window`'s
#              own figure (tile reading, window extraction, inference, argmax), and its process wall
#              time end to end
#   pixel      the notebook's method (one model.predict per pixel of the image resized to 64x64;
#              the first --keras-pixels timed and extrapolated, said in the output) against
#              `segment --mode pixel`, end to end (the whole process: start, model, image, outputs)
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, env=None, label=""):
    """Runs cmd with its output in a file; returns (output, wall seconds, peak RSS MiB, load average
    at start). Exits naming the command when it fails."""
    load = os.getloadavg()[0]
    print(f"$ {' '.join(cmd)}", flush=True)
    with tempfile.TemporaryFile(mode="w+") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if p.returncode != 0:
        sys.exit(f"compare_cpu: {label or cmd[0]} failed (exit {p.returncode}):\n{text[-3000:]}")
    return text, wall, usage.ru_maxrss / 1024.0, load


def grab(text, pattern, what):
    found = re.findall(pattern, text)
    if not found:
        sys.exit(f"compare_cpu: no {what} in the output (pattern {pattern!r}):\n{text[-2000:]}")
    return found


def env_threads(threads, wait_policy):
    """The environment of every side: thread counts, no GPU, and OMP_WAIT_POLICY when asked (it acts on
    every OpenMP runtime: ours and torch's; TensorFlow's own thread pool ignores it)."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS=str(threads),
               CUDA_VISIBLE_DEVICES="")
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    return env


class Shown(dict):
    """Results of one repeat; each figure is printed as it arrives (a failed later step keeps them)."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        print(f"  -> {key}: {value['value']:.3f} (peak RSS {value['rss']:.0f} MiB, load average {value['load']:.1f}"
              f"{', ' + value['note'] if value.get('note') else ''})", flush=True)


class Runner:
    def __init__(self, a):
        self.a = a
        self.env = env_threads(a.threads, a.omp_wait_policy)
        self.tmp = tempfile.mkdtemp(prefix="compare_cpu_")
        self.ckpt = os.path.join(self.tmp, "model.ckpt")

    # ---- landcover -------------------------------------------------------------------------------
    def lc_train(self):
        a = self.a
        out, wall, rss, load = run([a.landcover, "train", "--data", a.data, "--backend", "cpu", "--epochs",
                                    str(a.epochs), "--batch", "16", "--seed", str(a.seed), "--out", self.ckpt,
                                    "--metrics", os.path.join(self.tmp, "metrics.csv")], self.env, "landcover train")
        ips = [float(x) for x in grab(out, r"epoch \d+/\d+ .*? ([0-9.]+) img/s", "per-epoch img/s")]
        acc = float(grab(out, r"final validation accuracy ([0-9.]+)", "validation accuracy")[-1])
        timed = ips[1:] or ips
        # Equal images per epoch: the steady figure is the harmonic mean of the epochs after the first.
        steady = len(timed) / sum(1.0 / x for x in timed)
        return {"value": steady, "rss": rss, "load": load, "note": f"val acc {acc:.3f}"}

    def lc_segment(self, mode):
        a = self.a
        out_dir = os.path.join(self.tmp, f"seg_{mode}")
        os.makedirs(out_dir, exist_ok=True)
        cmd = [a.landcover, "segment", "--model", self.ckpt, "--mode", mode, "--backend", "cpu"]
        if mode == "window":
            cmd += ["--stride", str(a.stride), "--batch", str(a.batch)]
        cmd += ["--out-dir", out_dir, a.scene]
        out, wall, rss, load = run(cmd, self.env, f"landcover segment --mode {mode}")
        n, secs, rate = grab(out, r"(\d+) forward passes in ([0-9.]+) s \(([0-9.]+) (?:windows|colours)/s\)",
                             "segment timing")[-1]
        return {"value": float(rate), "seconds": float(secs), "forwards": int(n), "wall": wall, "rss": rss,
                "load": load}

    # ---- Keras -----------------------------------------------------------------------------------
    def keras(self, task, *extra):
        a = self.a
        out, wall, rss, load = run([a.tf_python, os.path.join(HERE, "keras_lc.py"), task, "--threads",
                                    str(a.threads), "--inter-threads", str(a.tf_inter_threads), *extra],
                                   self.env, f"keras {task}")
        res = json.loads(grab(out, r"RESULT (\{.*\})", "RESULT line")[-1])
        res.update(rss=rss, load=load, wall=wall)
        return res

    # ---- PyTorch ---------------------------------------------------------------------------------
    def torch_train(self):
        a = self.a
        out, wall, rss, load = run([a.torch_python, os.path.join(HERE, "torch_train_cpu.py"), "--data", a.data,
                                    "--steps", str(a.torch_steps), "--warmup", "20", "--threads", str(a.threads),
                                    "--seed", str(a.seed)], self.env, "torch training")
        ips = float(grab(out, r"torch CPU training: ([0-9.]+) images/s", "torch images/s")[-1])
        return {"value": ips, "rss": rss, "load": load}

    def torch_window(self):
        a = self.a
        out, wall, rss, load = run([a.torch_python, os.path.join(HERE, "torch_segment_cpu.py"), "--image", a.scene,
                                    "--stride", str(a.stride), "--batch", str(a.batch), "--threads", str(a.threads),
                                    "--checkpoint", self.ckpt], self.env, "torch segmentation")
        wps = float(grab(out, r"torch CPU segmentation: ([0-9.]+) windows/s", "torch windows/s")[-1])
        return {"value": wps, "rss": rss, "load": load}

    def once(self):
        a = self.a
        r = Shown()
        r["lc_train"] = self.lc_train()  # first: its checkpoint is the model the segmentations use
        if not a.skip_keras:
            k = self.keras("train", "--data", a.data, "--epochs", str(a.epochs), "--seed", str(a.seed))
            r["keras_train"] = {"value": k["images_per_s"], "rss": k["rss"], "load": k["load"]}
        if not a.skip_torch:
            r["torch_train"] = self.torch_train()
        r["lc_window"] = self.lc_segment("window")
        if not a.skip_keras:
            k = self.keras("window", "--image", a.scene, "--stride", str(a.stride), "--batch", str(a.batch))
            r["keras_window"] = {"value": k["windows_per_s"], "rss": k["rss"], "load": k["load"]}
        if not a.skip_torch:
            r["torch_window"] = self.torch_window()
        r["lc_pixel"] = self.lc_segment("pixel")
        if not a.skip_keras:
            k = self.keras("pixel", "--image", a.scene, "--pixels", str(a.keras_pixels))
            r["keras_pixel"] = {"value": k["seconds"], "rss": k["rss"], "load": k["load"],
                                "note": (f"{k['ms_per_pixel']:.1f} ms/pixel, " +
                                         ("all pixels" if k["timed_pixels"] == k["pixels"] else
                                          f"extrapolated from {k['timed_pixels']} of {k['pixels']} pixels"))}
        return r


def table(r, a):
    """Rows of the comparison for one repeat (r: results of Runner.once)."""
    rows = []

    def row(work, who, key, unit, fmt="{:.1f}"):
        if key in r:
            x = r[key]
            rows.append((work, who, fmt.format(x["value"]) + " " + unit, f"{x['rss']:.0f}", f"{x['load']:.1f}",
                         x.get("note", "")))

    row("training, batch 16", "Keras (TF-CPU)", "keras_train", "images/s")
    row("training, batch 16", "PyTorch-CPU", "torch_train", "images/s")
    row("training, batch 16", "landcover cpu", "lc_train", "images/s")
    row(f"window, stride {a.stride}, batch {a.batch}", "Keras predict", "keras_window", "windows/s")
    row(f"window, stride {a.stride}, batch {a.batch}", "PyTorch-CPU", "torch_window", "windows/s")
    if "lc_window" in r:
        w = r["lc_window"]
        w["note"] = f"{w['forwards']} windows; process end to end {w['wall']:.2f} s"
    row(f"window, stride {a.stride}, batch {a.batch}", "landcover segment", "lc_window", "windows/s")
    row("pixel, 64x64 resized scene", "notebook (predict per pixel)", "keras_pixel", "s", "{:.1f}")
    if "lc_pixel" in r:
        p = dict(r["lc_pixel"])
        p["note"] = f"segmenter {p['seconds']:.3f} s for {p['forwards']} colours; value = process end to end"
        p["value"] = p["wall"]
        rows.append(("pixel, 64x64 resized scene", "landcover segment --mode pixel", f"{p['value']:.3f} s",
                     f"{p['rss']:.0f}", f"{p['load']:.1f}", p["note"]))
    return rows


def ratios(r):
    out = []

    def ratio(name, num, den, target, invert=False):
        if num in r and den in r:
            v = r[den]["value"] / r[num]["value"] if invert else r[num]["value"] / r[den]["value"]
            out.append((name, v, target))

    ratio("training: landcover / Keras", "lc_train", "keras_train", 1.3)
    ratio("training: landcover / PyTorch", "lc_train", "torch_train", 1.3)
    ratio("window: landcover / Keras predict", "lc_window", "keras_window", 1.5)
    ratio("window: landcover / PyTorch", "lc_window", "torch_window", None)
    if "lc_pixel" in r and "keras_pixel" in r:
        out.append(("pixel: notebook time / landcover time (end to end)",
                    r["keras_pixel"]["value"] / r["lc_pixel"]["wall"], 1000.0))
    return out


def print_table(rows, title):
    print(f"\n{title}")
    head = ("work", "who", "speed", "peak RSS MiB", "load avg", "note")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    for x in [head] + rows:
        print("  " + " | ".join(str(v).ljust(w) for v, w in zip(x, widths)))


def main():
    ap = argparse.ArgumentParser(description="landcover cpu backend vs Keras (TF-CPU) and PyTorch-CPU, seed network.")
    ap.add_argument("--landcover", default=os.path.join(ROOT, "build", "landcover"), help="our binary")
    ap.add_argument("--tf-python", help="Python with tensorflow-cpu (a venv's bin/python)")
    ap.add_argument("--torch-python", help="Python with torch, numpy, pillow (a venv's bin/python)")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "ucmerced64"))
    ap.add_argument("--scene", default=os.path.join(ROOT, "..", "shared", "scenes",
                                                    "landsat_bahamas_andros_791x718.png"))
    ap.add_argument("--threads", type=int, default=2, help="threads of every side (OpenMP, TF intra-op, torch)")
    ap.add_argument("--tf-inter-threads", type=int, default=2, help="TF inter-op threads (TF's own default here)")
    ap.add_argument("--epochs", type=int, default=3, help="training epochs of Keras and landcover (first not timed)")
    ap.add_argument("--torch-steps", type=int, default=200, help="timed torch training steps")
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256, help="windows per forward pass (all sides)")
    ap.add_argument("--keras-pixels", type=int, default=200, help="pixels of the notebook method timed")
    ap.add_argument("--omp-wait-policy", choices=["passive", "active"],
                    help="OMP_WAIT_POLICY for every side (default: as in the environment). On a machine "
                         "shared with other work, OpenMP threads that spin while waiting take the cores "
                         "from the threads that work: passive makes them sleep")
    ap.add_argument("--repeats", type=int, default=1, help="run everything this many times")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", help="write every repeat's results here")
    a = ap.parse_args()
    a.skip_keras, a.skip_torch = not a.tf_python, not a.torch_python
    for what, path in (("--landcover", a.landcover), ("--data", a.data), ("--scene", a.scene)):
        if not os.path.exists(path):
            sys.exit(f"compare_cpu: {what} {path}: no such file or folder")
    for what, path in (("--tf-python", a.tf_python), ("--torch-python", a.torch_python)):
        if path and not shutil.which(path):
            sys.exit(f"compare_cpu: {what} {path}: not an executable")
    if a.skip_keras or a.skip_torch:
        print("note: " + " and ".join(x for x, s in (("no --tf-python: Keras", a.skip_keras),
                                                      ("no --torch-python: PyTorch", a.skip_torch)) if s) + " left out")

    print(f"OMP_WAIT_POLICY: {a.omp_wait_policy or os.environ.get('OMP_WAIT_POLICY', 'unset (runtime default)')}")
    print(f"CPU-only comparison on {os.cpu_count()} cores, {a.threads} threads per side; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at start. None of these is a GPU figure.")
    runner = Runner(a)
    results = []
    try:
        for rep in range(a.repeats):
            r = runner.once()
            results.append(dict(r))
            print_table(table(r, a), f"repeat {rep + 1} of {a.repeats} (load average now "
                        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
            for name, v, target in ratios(r):
                verdict = "" if target is None else f"  (target >= {target:g}: {'met' if v >= target else 'NOT met'})"
                print(f"  {name}: {v:.2f}x{verdict}")
    finally:
        shutil.rmtree(runner.tmp, ignore_errors=True)
    if a.repeats > 1:
        print(f"\nmedian of {a.repeats} repeats")
        names = [n for n, _, _ in ratios(results[0])]
        for i, name in enumerate(names):
            vals = [ratios(r)[i][1] for r in results]
            target = ratios(results[0])[i][2]
            verdict = "" if target is None else \
                f"  (target >= {target:g}: {'met' if statistics.median(vals) >= target else 'NOT met'})"
            print(f"  {name}: {statistics.median(vals):.2f}x  (repeats: {', '.join(f'{v:.2f}' for v in vals)})"
                  + verdict)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "cores": os.cpu_count(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
