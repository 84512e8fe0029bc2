#!/usr/bin/env python3
# Generates the Keras fixtures of tests/keras/ (tests/keras/fixtures/): the notebook's EuroSAT CNN
# (docs/MODEL.md) built in Keras, trained for a few steps on real images, saved as a Keras 3
# `.keras` zip and a legacy `.h5`, with Keras's probabilities for a fixed set of images; and a
# small functional model (separate Activation / ELU layers, `valid`-free chain) saved the same way.
# Run once by hand; the outputs are committed. Not part of the build or CI.
#
# Requirements: Python 3.10+, TensorFlow 2.16+ with Keras 3 and tf_keras (Keras 2) (`pip install
# tensorflow-cpu tf_keras h5py`),
# the UC Merced 64x64 data set in class-per-folder layout (the project's shared data folder).
#
#   $VENV/bin/python tests/keras/make_keras_fixtures.py --data ../shared/datasets/ucmerced64
#   # Check a file landcover exported: Keras loads it and predicts what `landcover classify` gives
#   # with the checkpoint it came from, on the fixture images (prints the largest difference):
#   build/landcover export-keras m.ckpt --out m.keras
#   $VENV/bin/python tests/keras/make_keras_fixtures.py --check m.keras --landcover build/landcover \
#       --checkpoint m.ckpt --classes tests/keras/fixtures/classes.txt
#   # or against recorded probabilities: --check m.keras --probs tests/keras/fixtures/eurosat_cnn_probs.f32
#
# Files written (little-endian, row-major):
#   eurosat_cnn.keras, eurosat_cnn.h5   the trained notebook model (10 classes)
#   keras2_small.h5, keras2_small_probs.f32   a small Sequential saved by Keras 2 itself (tf_keras)
#   small_functional.keras, small_functional.h5   a functional chain (Conv2D linear + Activation elu,
#                                       ELU layer, MaxPooling2D, Flatten, Dense + Softmax layer)
#   classes.txt                         the 10 class names used (first 10 UC Merced classes, sorted)
#   inputs_u8.bin                       N x 64 x 64 x 3 uint8 pixels as Keras decoded them
#   eurosat_cnn_probs.f32, small_functional_probs.f32   N x 10 float32 Keras probabilities of
#                                       inputs / 255 (model.predict, inference mode)
#   manifest.json                       N, the image files, Keras and TensorFlow versions
import argparse
import json
import os
import sys

import numpy as np

N_IMAGES = 8
CLASSES = 10


def build_notebook_model(keras):
    L = keras.layers
    return keras.Sequential([
        keras.Input((64, 64, 3)),
        L.BatchNormalization(),
        L.Conv2D(16, 5, padding="same", activation="elu"),
        L.MaxPooling2D(),
        L.BatchNormalization(),
        L.Conv2D(32, 3, padding="same", activation="elu"),
        L.Conv2D(32, 3, padding="same", activation="elu"),
        L.MaxPooling2D(),
        L.BatchNormalization(),
        L.Conv2D(64, 3, padding="same", activation="elu"),
        L.Conv2D(64, 3, padding="same", activation="elu"),
        L.MaxPooling2D(),
        L.BatchNormalization(),
        L.Conv2D(128, 3, padding="same", activation="elu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(128, activation="elu"),
        L.Dropout(0.5),
        L.Dense(64, activation="elu"),
        L.Dropout(0.5),
        L.Dense(CLASSES, activation="softmax"),
    ], name="eurosat_cnn")


def build_small_functional(keras):
    L = keras.layers
    x = inp = keras.Input((64, 64, 3), name="image")
    x = L.BatchNormalization(epsilon=1e-2, momentum=0.9)(x)
    x = L.Conv2D(4, 3, padding="same")(x)
    x = L.Activation("elu")(x)
    x = L.MaxPooling2D(pool_size=(2, 2))(x)
    x = L.Conv2D(4, 3, padding="same", use_bias=False)(x)
    x = L.ELU()(x)
    x = L.MaxPooling2D()(x)
    x = L.Flatten()(x)
    x = L.Dense(CLASSES)(x)
    x = L.Softmax()(x)
    return keras.Model(inp, x, name="small_functional")


def load_images(tf, root, classes, per_class):
    xs, ys, files = [], [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        for f in sorted(os.listdir(folder))[:per_class]:
            img = tf.io.decode_jpeg(tf.io.read_file(os.path.join(folder, f)), channels=3).numpy()
            assert img.shape == (64, 64, 3), (f, img.shape)
            xs.append(img)
            ys.append(label)
            files.append(f"{name}/{f}")
    return np.stack(xs), np.array(ys, np.int32), files


def generate_keras2(args, tf, x_train, y_train, x_rec_f):
    """A model saved by Keras 2 itself (tf_keras): Sequential without InputLayer (the input shape in
    the first layer's batch_input_shape), weight names with ':0', fixed-length name attributes."""
    import tf_keras as k2
    L = k2.layers
    k2.utils.set_random_seed(99)
    m = k2.Sequential([
        L.BatchNormalization(input_shape=(64, 64, 3)),
        L.Conv2D(4, 3, padding="same", activation="elu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dropout(0.25),
        L.Dense(CLASSES),
        L.Activation("softmax"),
    ], name="keras2_small")
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x_train.astype(np.float32) / 255.0, y_train, batch_size=16, epochs=2, verbose=2)
    m.save(os.path.join(args.out, "keras2_small.h5"), include_optimizer=False)
    m.predict(x_rec_f, verbose=0).astype(np.float32).tofile(os.path.join(args.out, "keras2_small_probs.f32"))
    return k2.__version__


def generate(args):
    import tensorflow as tf
    import keras
    out = args.out
    os.makedirs(out, exist_ok=True)
    classes = sorted(d for d in os.listdir(args.data) if os.path.isdir(os.path.join(args.data, d)))[:CLASSES]
    keras.utils.set_random_seed(1234)
    x_train, y_train, _ = load_images(tf, args.data, classes, 16)
    # The recorded images: the 17th and 18th of a few classes (not seen in training).
    xs, ys, files = load_images(tf, args.data, classes, 18)
    pick = [i for i in range(len(files)) if int(files[i][-6:-4]) in (16, 17)][:N_IMAGES]
    x_rec, rec_files = xs[pick], [files[i] for i in pick]
    x_rec_f = x_rec.astype(np.float32) / 255.0

    model = build_notebook_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # A few steps move the weights and the batch-norm moving statistics away from their defaults.
    model.fit(x_train.astype(np.float32) / 255.0, y_train, batch_size=16, epochs=3, shuffle=True, verbose=2)
    probs = model.predict(x_rec_f, verbose=0).astype(np.float32)
    # Saved without the optimizer (Adam's moments would triple the file); the small model below
    # keeps its optimizer, so the importer is also tested on a file that has one.
    bare = build_notebook_model(keras)
    bare.set_weights(model.get_weights())
    bare.save(os.path.join(out, "eurosat_cnn.keras"))
    model.save(os.path.join(out, "eurosat_cnn.h5"), include_optimizer=False)
    probs.tofile(os.path.join(out, "eurosat_cnn_probs.f32"))

    small = build_small_functional(keras)
    small.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    small.fit(x_train.astype(np.float32) / 255.0, y_train, batch_size=16, epochs=2, verbose=2)
    sprobs = small.predict(x_rec_f, verbose=0).astype(np.float32)
    small.save(os.path.join(out, "small_functional.keras"))
    small.save(os.path.join(out, "small_functional.h5"), include_optimizer=False)
    sprobs.tofile(os.path.join(out, "small_functional_probs.f32"))

    keras2 = generate_keras2(args, tf, x_train, y_train, x_rec_f)
    x_rec.astype(np.uint8).tofile(os.path.join(out, "inputs_u8.bin"))
    with open(os.path.join(out, "classes.txt"), "w") as f:
        f.write("\n".join(classes) + "\n")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"images": N_IMAGES, "height": 64, "width": 64, "channels": 3, "classes": CLASSES,
                   "files": rec_files, "keras": keras.__version__, "tf_keras": keras2, "tensorflow": tf.__version__}, f, indent=1)
    # Each saved file loads back in Keras and predicts the same.
    for name in ("eurosat_cnn.keras", "eurosat_cnn.h5"):
        again = keras.models.load_model(os.path.join(out, name), compile=False)
        d = np.abs(again.predict(x_rec_f, verbose=0) - probs).max()
        print(f"{name}: reloaded, max |diff| {d:.3g}")
        assert d == 0.0
    print("top classes:", probs.argmax(1), "max prob", probs.max(1))


def landcover_probs(args, x):
    """landcover's probabilities of the images x (N x H x W x 3 uint8) with `classify --json`."""
    import subprocess
    import tempfile
    import tensorflow as tf
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(x):
            paths.append(os.path.join(tmp, f"img{i}.png"))
            tf.io.write_file(paths[-1], tf.io.encode_png(img))
        out = subprocess.run([args.landcover, "classify", "--backend", "cpu", "--json", "--top", "1000",
                              "--model", args.checkpoint] + paths, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def keras2_only(args):
    import tensorflow as tf
    import keras
    man = json.load(open(os.path.join(args.out, "manifest.json")))
    classes = [l.strip() for l in open(os.path.join(args.out, "classes.txt")) if l.strip()]
    keras.utils.set_random_seed(1234)
    x_train, y_train, _ = load_images(tf, args.data, classes, 16)
    n = man["images"]
    x_rec = np.fromfile(os.path.join(args.out, "inputs_u8.bin"), np.uint8).reshape(n, 64, 64, 3)
    man["tf_keras"] = generate_keras2(args, tf, x_train, y_train, x_rec.astype(np.float32) / 255.0)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    return 0


def check(args):
    if args.keras2:
        import tf_keras as keras
    else:
        import keras
    fixtures = args.out
    man = json.load(open(os.path.join(fixtures, "manifest.json")))
    n, h, w, c = man["images"], man["height"], man["width"], man["channels"]
    x = np.fromfile(os.path.join(fixtures, "inputs_u8.bin"), np.uint8).reshape(n, h, w, c)
    model = keras.models.load_model(args.check, compile=False)
    probs = model.predict(x.astype(np.float32) / 255.0, verbose=0)
    if args.probs:
        ref = np.fromfile(args.probs, np.float32).reshape(n, -1)
        what = args.probs
    else:
        # The class order of the checkpoint: classify prints names; the exported Dense has the
        # checkpoint's class order, so map names to indices with --classes (one per line).
        rows = landcover_probs(args, x)
        classes = [l.strip() for l in open(args.classes) if l.strip()]
        ref = np.zeros_like(probs)
        for i, r in enumerate(rows):
            for t in r["top"]:
                ref[i, classes.index(t["class"])] = t["probability"]
        what = f"landcover classify --model {args.checkpoint}"
    d = np.abs(probs - ref).max()
    print(f"{args.check}: Keras {keras.__version__} loaded it ({len(model.layers)} layers); "
          f"max |Keras - {what}| over {n}x{ref.shape[1]} probabilities: {d:.3g}; "
          f"same top class: {int((probs.argmax(1) == ref.argmax(1)).sum())}/{n}")
    return 0 if d <= args.tolerance else 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", help="UC Merced 64x64 class-per-folder root")
    p.add_argument("--out", default=os.path.join(here, "fixtures"))
    p.add_argument("--check", help="a .keras/.h5 file exported by landcover to load in Keras")
    p.add_argument("--probs", help="with --check: N x classes float32 probabilities of inputs_u8.bin to compare with")
    p.add_argument("--landcover", help="with --check: the landcover binary (compare with its classify)")
    p.add_argument("--checkpoint", help="with --landcover: the checkpoint the file was exported from")
    p.add_argument("--classes", help="with --landcover: the checkpoint's class names, one per line")
    p.add_argument("--tolerance", type=float, default=1e-5)
    p.add_argument("--keras2", action="store_true", help="with --check: load with tf_keras (Keras 2)")
    p.add_argument("--keras2-only", action="store_true", help="(re)write only the tf_keras (Keras 2) fixture")
    args = p.parse_args()
    if args.check:
        return check(args)
    if not args.data:
        p.error("--data is required to generate the fixtures")
    if args.keras2_only:
        return keras2_only(args)
    generate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
