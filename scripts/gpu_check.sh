#!/usr/bin/env bash
# The first minutes on a GPU machine, in one call (issue 14): on a fresh machine with the CUDA
# toolkit (nvcc, cuDNN, cuBLAS under /usr/local/cuda) and a GPU, it
#   1. installs the build dependencies (scripts/setup.sh) where they are missing,
#   2. builds for this GPU's architecture only (nvidia-smi --query-gpu=compute_cap),
#   3. runs the `gpu` test label,
#   4. `landcover bench --backend cuda,cudnn` at batch 16 and 1024 (custom / cuDNN time ratios),
#   5. one training epoch on DATA_DIR with cuda and with cudnn (images/s, launches per step:
#      kernels and CUDA Graph replays, final validation accuracy), and with two GPUs and mpirun,
#      one epoch on 2 ranks over NCCL with the ranks' parameters compared after every step,
#   6. window and pixel segmentation of SCENE with both backends, and pixel mode's naive comparison,
#   7. compute-sanitizer (memcheck) on a short cuda training run, when present,
#   8. Nsight Systems on a short cuda training run (statistics only), when present,
# and writes everything into profiling/results/<date>_<gpu>/ (at most 8 files: system.txt,
# tests.log, bench.log, bench.json, train.log, segment.log, tools.log, summary.txt), then prints
# the summary. Every step after the build has a time limit so the whole stays well under 10
# minutes; a failing step is recorded in the summary and the next one runs.
#
#   bash scripts/gpu_check.sh DATA_DIR SCENE_IMAGE
#   bash scripts/gpu_check.sh --download-debs   (on a machine with apt and network: fetches the
#       Debian packages of the small header-only and BLAS dependencies into .gpu_debs/, git-ignored,
#       for a GPU machine that cannot reach a mirror; there they are unpacked into a private prefix,
#       not into /). The libraries of the field (GDAL/PROJ, netCDF, HDF5, PLplot, GSL, libcurl,
#       libarchive, libjpeg-turbo, libpng) are not carried: with their dependencies they are some 525
#       Debian packages, about 660 MiB, more than one carry to a GPU machine holds. A machine without
#       them and without network stops at step 1 naming what is missing.
# Where cuDNN is not under /usr/local/cuda, the pip wheel's copy (python3 -m nvidia.cudnn) is used.
# Environment: BUILD_DIR (default build-gpu), RESULTS_ROOT (default profiling/results),
#   GPU_CHECK_DEBS (default .gpu_debs), GPU_CHECK_PREFIX (where they are unpacked, default /tmp/lc_deps),
#   GPU_CHECK_USE_DEBS=1 (use the carried packages even where the system has them: a rehearsal),
#   GPU_CHECK_ARCH (build for this architecture, e.g. 90, without asking the GPU: to rehearse the
#   build on a machine without one; the script then stops before the first step that runs on a GPU).
# Without a GPU it stops, with a message saying so, at the first step that needs one.
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
say() { echo "[gpu_check $(elapsed)s] $*"; }
die() { echo "gpu_check: $*" >&2; exit 1; }

DEBS=${GPU_CHECK_DEBS:-.gpu_debs}
PREFIX=${GPU_CHECK_PREFIX:-/tmp/lc_deps}
PACKAGES="libgtest-dev libstb-dev libcli11-dev nlohmann-json3-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5"
if [ "${1:-}" = "--download-debs" ]; then
  mkdir -p "$DEBS"
  (cd "$DEBS" && apt-get download $PACKAGES) || die "apt-get download failed"
  exclude=$(git rev-parse --git-path info/exclude)
  grep -qx "/$DEBS/" "$exclude" 2>/dev/null || echo "/$DEBS/" >>"$exclude"
  say "packages in $DEBS ($(du -sh "$DEBS" | cut -f1)); carry that folder to the GPU machine"
  exit 0
fi
[ $# -eq 2 ] || { echo "usage: bash scripts/gpu_check.sh DATA_DIR SCENE_IMAGE | --download-debs" >&2; exit 2; }
DATA=$(realpath "$1") SCENE=$(realpath "$2")
[ -d "$DATA" ] || die "data folder $1 not found (a class-per-folder data set, e.g. ucmerced64)"
[ -f "$SCENE" ] || die "scene image $2 not found"
BUILD_DIR=${BUILD_DIR:-build-gpu}
RESULTS_ROOT=${RESULTS_ROOT:-profiling/results}
export PATH="/usr/local/cuda/bin:$PATH"
export CCACHE_BASEDIR="$PWD/.."

# ---- 1. Build dependencies (only what is missing; a machine without network then says so).
missing=""
for tool in cmake ninja g++ pkg-config; do command -v $tool >/dev/null || missing="$missing $tool"; done
for hdr in /usr/include/gtest/gtest.h /usr/include/stb/stb_image.h /usr/include/CLI/CLI.hpp \
  /usr/include/nlohmann/json.hpp; do [ -f $hdr ] || missing="$missing $hdr"; done
compgen -G "/usr/include/*/cblas.h" >/dev/null || compgen -G "/usr/include/cblas.h" >/dev/null || missing="$missing cblas.h"
# The libraries of the field (rasters, netCDF, HDF5, image decoders, ...), as CMake looks for them.
for pc in gdal proj netcdf hdf5 plplot gsl libturbojpeg libpng libcurl libarchive libcrypto; do
  command -v pkg-config >/dev/null && pkg-config --exists $pc 2>/dev/null || missing="$missing $pc"
done
CMAKE_DEPS=()
[ "${GPU_CHECK_USE_DEBS:-0}" = 1 ] && missing="$missing (GPU_CHECK_USE_DEBS=1)"
if [ -n "$missing" ] && compgen -G "$DEBS/*.deb" >/dev/null; then
  # Carried packages: unpacked into a private prefix (never into /), found through CMake's paths.
  say "unpacking the packages in $DEBS into $PREFIX (missing:$missing)"
  mkdir -p "$PREFIX"
  for f in "$DEBS"/*.deb; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$f" "$PREFIX"
    else
      deb=$(realpath "$f") t=$(mktemp -d)
      (cd "$t" && ar x "$deb" && tar -xf data.tar.* -C "$PREFIX")
      rm -rf "$t"
    fi
  done
  L="$PREFIX/usr/lib/x86_64-linux-gnu"
  CMAKE_DEPS=(-DCMAKE_PREFIX_PATH="$PREFIX/usr" -DCMAKE_INCLUDE_PATH="$PREFIX/usr/include"
              -DCMAKE_LIBRARY_PATH="$L/openblas-pthread;$L")
  export LD_LIBRARY_PATH="$L/openblas-pthread:$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
elif [ -n "$missing" ]; then
  say "installing build dependencies (missing:$missing)"
  bash scripts/setup.sh || die "scripts/setup.sh failed (no network to the Debian mirrors? carry the packages:" \
    "bash scripts/gpu_check.sh --download-debs on a machine with network); missing:$missing"
fi
# cuDNN: the toolkit's, else the pip wheel's (nvidia-cudnn-cu13).
if ! compgen -G "/usr/local/cuda/lib64/libcudnn.so*" >/dev/null && ! ldconfig -p 2>/dev/null | grep -q 'libcudnn[.]so'; then
  d=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  lib=$(ls "$d"/lib/libcudnn.so* 2>/dev/null | head -1 || true)
  [ -n "$lib" ] || die "cuDNN not found (neither under /usr/local/cuda nor as the nvidia-cudnn pip package)"
  say "cuDNN from $d"
  CMAKE_DEPS+=(-DCUDNN_LIBRARY="$lib" -DCUDNN_INCLUDE_DIR="$d/include")
  export LD_LIBRARY_PATH="$d/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
command -v nvcc >/dev/null || die "nvcc not found (needs the CUDA toolkit under /usr/local/cuda)"
say "toolchain: $(nvcc --version | grep -o 'release [0-9.]*'), $(g++ --version | head -1), cmake $(cmake --version | head -1 | grep -o '[0-9.]*$')"

# ---- The GPU: architecture and name (the first point that needs one).
GPU_NAME="" ARCH="${GPU_CHECK_ARCH:-}"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  [ -n "$ARCH" ] || ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
fi
if [ -z "$ARCH" ]; then
  say "STOP: no usable GPU here (nvidia-smi $(command -v nvidia-smi >/dev/null && echo 'lists no GPU' || echo 'not found')):" \
    "the build for the GPU's architecture and every later step need one. Set GPU_CHECK_ARCH=90 to rehearse the build."
  exit 3
fi

# ---- 2. Build for this architecture only.
say "building for sm_$ARCH in $BUILD_DIR"
mkdir -p "$BUILD_DIR"
LAUNCHER=""
command -v ccache >/dev/null && LAUNCHER="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache"
cmake -S . -B "$BUILD_DIR" -G Ninja -DLC_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" $LAUNCHER "${CMAKE_DEPS[@]}" \
  >"$BUILD_DIR/configure.log" 2>&1 || die "cmake configure failed: see $BUILD_DIR/configure.log"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target landcover lc_tests >/dev/null || die "build failed (rerun: cmake --build $BUILD_DIR)"
BIN="$BUILD_DIR/landcover"
say "built"

if [ -z "$GPU_NAME" ]; then
  say "STOP: built for sm_$ARCH, but no usable GPU here ($("$BIN" info 2>&1 | grep -m1 -i 'cuda' | tr -s ' ' | sed 's/^ //' || true));" \
    "the remaining steps (gpu tests, bench, training, segmentation, sanitizer, nsys) run on a GPU."
  exit 3
fi

# ---- Results folder and the machine's description.
SAFE_GPU=$(echo "$GPU_NAME" | tr -c 'A-Za-z0-9.-' '_' | sed 's/_*$//')
RES="$RESULTS_ROOT/$(date -u +%Y%m%d-%H%M)_${SAFE_GPU}"
mkdir -p "$RES"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
{
  echo "date (UTC): $(date -u)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.draw,power.limit,temperature.gpu,persistence_mode --format=csv || true
  nvidia-smi --query-gpu=clocks_event_reasons.active --format=csv 2>/dev/null ||
    nvidia-smi --query-gpu=clocks_throttle_reasons.active --format=csv || true
  nvcc --version | tail -2 || true
  "$BIN" info || true
  echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
} >"$RES/system.txt" 2>&1
say "results in $RES"

SUMMARY="$RES/summary.txt"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
# step NAME LIMIT_S LOG CMD...: runs CMD under a time limit, appends its output to LOG, records the outcome.
step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local t=$(date +%s) rc=0
  echo "==== $name: $*" >>"$log"
  timeout "$limit" "$@" >>"$log" 2>&1 || rc=$?
  local verdict=ok
  [ $rc -eq 0 ] || verdict="FAILED (exit $rc$([ $rc -eq 124 ] && echo ", over ${limit}s"))"
  note "$(printf '%-34s %4ss  %s' "$name" $(( $(date +%s) - t )) "$verdict")"
  return 0
}

note "gpu_check on $GPU_NAME (sm_$ARCH), $(date -u +%F\ %H:%M) UTC; setup and build: $(elapsed) s"

# ---- 3. gpu test label.
step "gpu tests (ctest -L gpu)" 150 "$RES/tests.log" ctest --test-dir "$BUILD_DIR" -L '^gpu$' -j4 --output-on-failure

# ---- 4. Bench: custom kernels against cuDNN.
step "bench cuda,cudnn batch 16,1024" 150 "$RES/bench.log" \
  "$BIN" bench --backend cuda,cudnn --batch 16,1024 --json "$RES/bench.json"

# ---- 5. One training epoch per backend.
for be in cuda cudnn; do
  step "train 1 epoch ($be)" 90 "$RES/train.log" "$BIN" train --data "$DATA" --backend $be --epochs 1 \
    --out "$WORK/$be.ckpt" --metrics "$WORK/$be.csv" --no-cache
done

# ---- 5b. Data parallelism over NCCL (docs/DISTRIBUTED.md), where there are two GPUs and mpirun:
# 2 ranks x 1 epoch on cuda, the ranks' parameters compared after every step (LC_DIST_CHECK).
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "${NGPU:-0}" -ge 2 ] && command -v mpirun >/dev/null; then
  step "train 1 epoch, 2 ranks NCCL (cuda)" 120 "$RES/train.log" env OMPI_ALLOW_RUN_AS_ROOT=1 \
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LC_DIST_CHECK=1 LC_COMM_TIMEOUT=60 mpirun -np 2 --oversubscribe --bind-to none \
    "$BIN" train --data "$DATA" --backend cuda --epochs 1 --out "$WORK/nccl.ckpt" --metrics "$WORK/nccl.csv" --no-cache
else
  note "NCCL data parallelism skipped: needs 2 GPUs (found ${NGPU:-0}) and mpirun"
fi

# ---- 6. Segmentation with both backends (the cuda checkpoint; cudnn's where cuda's is missing).
CKPT="$WORK/cuda.ckpt"
[ -f "$CKPT" ] || CKPT="$WORK/cudnn.ckpt"
if [ -f "$CKPT" ]; then
  for be in cuda cudnn; do
    step "segment window ($be)" 60 "$RES/segment.log" "$BIN" segment --model "$CKPT" --backend $be --mode window \
      --nodata 0,0,0 --quiet --out-dir "$WORK/seg_$be" "$SCENE"
    step "segment pixel + naive ($be)" 90 "$RES/segment.log" "$BIN" segment --model "$CKPT" --backend $be --mode pixel \
      --compare-naive --naive-pixels 20000 --quiet --out-dir "$WORK/pix_$be" "$SCENE"
  done
else
  note "segmentation skipped: no checkpoint (both training runs failed)"
fi

# ---- 7. compute-sanitizer on a short training run.
if command -v compute-sanitizer >/dev/null; then
  step "compute-sanitizer memcheck (cuda)" 120 "$RES/tools.log" compute-sanitizer --tool memcheck --error-exitcode 9 \
    "$BIN" train --data "$DATA" --backend cuda --epochs 1 --max-images 8 --out "$WORK/san.ckpt" --no-cache
else
  note "compute-sanitizer: not installed, skipped"
fi

# ---- 8. Nsight Systems (statistics only; the report file stays out of the results).
if command -v nsys >/dev/null; then
  step "nsys (cuda, short training)" 120 "$RES/tools.log" nsys profile --trace=cuda,nvtx,cublas,cudnn --sample=none \
    --cuda-graph-trace=node --stats=true --force-overwrite=true -o "$WORK/train" \
    "$BIN" train --data "$DATA" --backend cuda --epochs 1 --max-images 32 --out "$WORK/nsys.ckpt" --no-cache
else
  note "nsys: not installed, skipped"
fi

# ---- Summary: the figures from the logs.
{
  echo
  echo "== tests"
  grep -E "tests passed|tests failed|\(Failed\)|\(SEGFAULT\)|Timeout" "$RES/tests.log" | head -20 || true
  echo "== bench: ratio cuda / cudnn (time; < 1: ours faster)"
  sed -n '/^ratio cuda \/ cudnn/,$p' "$RES/bench.log" | tail -n +2 | grep '^  ' || true
  grep -E "^segmentation|^pixel mode" "$RES/bench.log" || true
  echo "== training (one epoch): per backend the epoch line, launches per step, final accuracy"
  grep -E "^==== |epoch 1/|launches per training step|^final:|note:|replica check|global batch" "$RES/train.log" | sed 's/^==== train.*--backend \([a-z]*\).*/-- \1/' || true
  echo "== segmentation"
  grep -E "^==== |windows/s|colours|speedup|pixels/s" "$RES/segment.log" | sed 's/^==== \(segment [a-z]*\).*--backend \([a-z]*\).*/-- \1 \2/' || true
  echo "== sanitizer / nsys"
  grep -E "ERROR SUMMARY|cudaGraphLaunch|Time \(%\).*Name" "$RES/tools.log" | head -10 || true
  echo
  echo "total: $(elapsed) s; results in $RES"
} >>"$SUMMARY" 2>/dev/null
cat "$SUMMARY"
