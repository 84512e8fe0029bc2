#!/usr/bin/env python3
# The notebook's Keras side of profiling/compare_cpu.py, run with a TensorFlow interpreter (any venv
# with tensorflow-cpu; see profiling/README.md). One task per run, one JSON line on stdout at the end
# (prefixed "RESULT "), human-readable lines before it. CPU only: never a GPU number.
#
# The model is the notebook's, in the notebook's own style: a Sequential of BatchNormalization,
# Conv2D (padding same), ELU, MaxPooling2D, Flatten, Dense and Dropout with Keras' defaults
# (Glorot-uniform kernels, zero biases, batch-norm epsilon 1e-3 and momentum 0.99), the last Dense
# with a softmax; `compile` with Adam(1e-3) and sparse categorical cross-entropy; `fit` on a
# tf.data pipeline (decode, x / 255, random horizontal flip, shuffle, batch 16 dropping the last
# partial batch, prefetch). Layers follow model/eurosat_cnn.json (docs/MODEL.md).
#
# Tasks:
#   train  --data DIR [--epochs 3]: images/s of the epochs after the first (the first decodes and
#          fills tf.data's cache, as our trainer's decoded cache; its time is printed apart)
#   window --image PNG --stride S [--batch 256]: windows/s of `model.predict` over every window of
#          the image (kernels/image/image.h's extract_windows geometry: reflect-101 borders, block
#          centres), timed from the decoded image to the class map (extraction, predict, argmax)
#   pixel  --image PNG [--pixels N]: the notebook's pixel method: the image resized to 64x64 (area
#          averaging), then for each pixel a 64x64 image of its colour and one `model.predict` on it;
#          times the first N pixels and extrapolates to all 4,096 (says so)
# Depends on: TensorFlow 2 (Keras 3 or tf.keras), numpy.
import argparse
import json
import os
import sys
import time


def parse():
    ap = argparse.ArgumentParser(description="The notebook's Keras model on the CPU (for compare_cpu.py).")
    ap.add_argument("task", choices=["train", "window", "pixel"])
    ap.add_argument("--data", help="class-per-folder data set (train)")
    ap.add_argument("--image", help="PNG scene (window, pixel)")
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    ap.add_argument("--inter-threads", type=int, default=2, help="TensorFlow inter-op threads")
    ap.add_argument("--epochs", type=int, default=3, help="train: epochs (the first is left out of the timing)")
    ap.add_argument("--batch", type=int, default=0, help="train: 16; window: 256 (0: these defaults)")
    ap.add_argument("--stride", type=int, default=8, help="window: stride")
    ap.add_argument("--pixels", type=int, default=200, help="pixel: pixels timed (extrapolated to 4,096)")
    ap.add_argument("--classes", type=int, default=10, help="window, pixel: classes of the (random) model")
    ap.add_argument("--seed", type=int, default=42)
    return ap.parse_args()


args = parse()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the CPU only, even where TF could see a GPU
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(args.threads)
tf.config.threading.set_inter_op_parallelism_threads(args.inter_threads)
keras = tf.keras
layers = keras.layers


def notebook_model(classes):
    """The notebook's network (model/eurosat_cnn.json), Keras defaults everywhere."""
    m = keras.Sequential([
        keras.Input(shape=(64, 64, 3)),
        layers.BatchNormalization(),
        layers.Conv2D(16, (5, 5), padding="same"), layers.ELU(), layers.MaxPooling2D((2, 2)),
        layers.BatchNormalization(),
        layers.Conv2D(32, (3, 3), padding="same"), layers.ELU(),
        layers.Conv2D(32, (3, 3), padding="same"), layers.ELU(), layers.MaxPooling2D((2, 2)),
        layers.BatchNormalization(),
        layers.Conv2D(64, (3, 3), padding="same"), layers.ELU(),
        layers.Conv2D(64, (3, 3), padding="same"), layers.ELU(), layers.MaxPooling2D((2, 2)),
        layers.BatchNormalization(),
        layers.Conv2D(128, (3, 3), padding="same"), layers.ELU(), layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(128), layers.ELU(), layers.Dropout(0.5),
        layers.Dense(64), layers.ELU(), layers.Dropout(0.5),
        layers.Dense(classes, activation="softmax"),
    ])
    m.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    return m


def class_files(root):
    """Files and labels of a class-per-folder data set (class = position of the sorted folder name)."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    files, labels = [], []
    for ci, c in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(root, c))):
            if f.lower().endswith((".jpg", ".jpeg", ".png")):
                files.append(os.path.join(root, c, f))
                labels.append(ci)
    return files, np.asarray(labels, np.int32), classes


def stratified_train(labels, val_share, seed):
    rng = np.random.default_rng(seed)
    train = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        train += list(idx[int(round(len(idx) * val_share)):])
    return np.asarray(train)


class StepTimes(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((time.perf_counter() - self.t0, time.process_time() - self.c0, dict(logs or {})))

    def __init__(self):
        super().__init__()
        self.epochs = []


def task_train():
    batch = args.batch or 16
    files, labels, classes = class_files(args.data)
    train = stratified_train(labels, 0.2, args.seed)
    steps = len(train) // batch
    tf.keras.utils.set_random_seed(args.seed)

    def load(path, label):
        img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        img.set_shape((64, 64, 3))
        return img, label

    def augment(img, label):
        x = tf.cast(img, tf.float32) / 255.0
        return tf.image.random_flip_left_right(x), label

    ds = (tf.data.Dataset.from_tensor_slices(([files[i] for i in train], labels[train]))
          .map(load, num_parallel_calls=tf.data.AUTOTUNE).cache()
          .shuffle(len(train), seed=args.seed, reshuffle_each_iteration=True)
          .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
          .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    model = notebook_model(len(classes))
    print(f"keras train: {len(train)} training images of {len(files)}, {len(classes)} classes, batch {batch}, "
          f"{steps} steps per epoch, {args.epochs} epochs; TF {tf.__version__}, threads {args.threads}/"
          f"{args.inter_threads}, {model.count_params()} parameters", flush=True)
    times = StepTimes()
    model.fit(ds, epochs=args.epochs, verbose=0, callbacks=[times])
    timed = times.epochs[1:] or times.epochs
    wall = sum(t for t, _, _ in timed)
    cpu = sum(c for _, c, _ in timed)
    ips = steps * batch * len(timed) / wall
    for i, (t, c, logs) in enumerate(times.epochs):
        print(f"  epoch {i + 1}: {t:.2f} s ({steps * batch / t:.1f} images/s), loss {logs.get('loss', 0):.4f}, "
              f"accuracy {logs.get('accuracy', 0):.4f}{' (not timed: decoding, cache, tracing)' if i == 0 else ''}")
    print(f"keras CPU training: {ips:.1f} images/s over {len(timed)} epoch(s)")
    return {"images_per_s": ips, "images_per_cpu_s": steps * batch * len(timed) / cpu,
            "final_loss": float(times.epochs[-1][2].get("loss", 0.0))}


def read_png(path):
    img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return img.numpy()


def reflect101(i, n):
    if n <= 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    m = np.mod(i, period)
    return np.where(m < n, m, period - m)


def window_rows(n, stride, window):
    """[map size][window] source indices along one axis (kernels/image/image.h's geometry)."""
    i = np.arange((n + stride - 1) // stride, dtype=np.int64)
    start = i * stride
    centre = start + np.minimum(stride, n - start) // 2
    return reflect101(centre[:, None] - window // 2 + np.arange(window)[None, :], n)


def task_window():
    batch = args.batch or 256
    tf.keras.utils.set_random_seed(args.seed)
    model = notebook_model(args.classes)
    rgb = read_png(args.image)
    H, W, _ = rgb.shape
    ys, xs = window_rows(H, args.stride, 64), window_rows(W, args.stride, 64)
    mh, mw = len(ys), len(xs)
    total = mh * mw
    print(f"keras window: {args.image} {W}x{H}, stride {args.stride}: {mw}x{mh} = {total} windows, batch {batch}; "
          f"TF {tf.__version__}, threads {args.threads}/{args.inter_threads}", flush=True)
    model.predict(np.zeros((batch, 64, 64, 3), np.float32), batch_size=batch, verbose=0)  # warm-up (tracing)
    t0, c0 = time.perf_counter(), time.process_time()
    cls = np.empty(total, np.int32)
    # Chunks of 16 batches: the windows of a chunk are cut out, scaled and predicted, as a tiled run.
    chunk = 16 * batch
    for first in range(0, total, chunk):
        n = np.arange(first, min(total, first + chunk))
        x = rgb[ys[n // mw][:, :, None], xs[n % mw][:, None, :]].astype(np.float32) / 255.0
        cls[n] = model.predict(x, batch_size=batch, verbose=0).argmax(axis=1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"keras CPU window segmentation: {total / wall:.1f} windows/s ({total} windows in {wall:.2f} s)")
    return {"windows_per_s": total / wall, "windows_per_cpu_s": total / cpu, "windows": total, "seconds": wall}


def task_pixel():
    tf.keras.utils.set_random_seed(args.seed)
    model = notebook_model(args.classes)
    rgb = read_png(args.image)
    small = tf.image.resize(rgb, (64, 64), method="area").numpy()  # the notebook resized to 64x64
    small = np.clip(np.round(small), 0, 255).astype(np.uint8).reshape(-1, 3)
    n = min(args.pixels, len(small)) if args.pixels > 0 else len(small)
    print(f"keras pixel (the notebook's method): {args.image} resized to 64x64 = {len(small)} pixels, one "
          f"model.predict of a 64x64 flat image per pixel; timing {n} pixels", flush=True)
    model.predict(np.zeros((1, 64, 64, 3), np.float32), verbose=0)  # warm-up (tracing)
    t0 = time.perf_counter()
    classes = []
    for p in small[:n]:
        flat = np.broadcast_to(p.astype(np.float32) / 255.0, (1, 64, 64, 3))
        classes.append(int(model.predict(flat, verbose=0).argmax()))
    per = (time.perf_counter() - t0) / n
    full = per * len(small)
    note = "measured" if n == len(small) else f"extrapolated from {n} of {len(small)} pixels"
    print(f"keras CPU pixel method: {1e3 * per:.2f} ms per pixel, {full:.1f} s for the image ({note})")
    return {"ms_per_pixel": 1e3 * per, "seconds": full, "pixels": len(small), "timed_pixels": n}


def main():
    if args.task == "train" and not args.data:
        sys.exit("train needs --data")
    if args.task in ("window", "pixel") and not args.image:
        sys.exit(f"{args.task} needs --image")
    result = {"train": task_train, "window": task_window, "pixel": task_pixel}[args.task]()
    result["tf_version"] = tf.__version__
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
