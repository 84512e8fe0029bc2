#!/usr/bin/env bash
# The main job: build, train the EuroSAT CNN on a class-per-folder data set, then segment a scene.
#   bash scripts/main_job.sh                      # EuroSAT (fetched into the user cache first when
#                                                 # missing: needs internet once) + the sample scene
#   bash scripts/main_job.sh DATA_DIR|eurosat [SCENE_IMAGE [extra train options...]]
# The sample scene is samples/landsat_grenada_438x500.tif (samples/SOURCE.md).
# Environment: BUILD_DIR (default build), OUT_DIR (default out), BACKEND (default auto),
# EPOCHS (default 5, the recipe's), NODATA (default 0,0,0: the black fill around Landsat scenes is
# left out of the window-mode map and fractions; empty: no nodata colour).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-eurosat}
SCENE=${2:-samples/landsat_grenada_438x500.tif}
[ $# -eq 0 ] || shift
[ $# -eq 0 ] || shift
[ "$DATA" = eurosat ] || [ -d "$DATA" ] || {
  echo "usage: bash scripts/main_job.sh [DATA_DIR|eurosat [SCENE_IMAGE [train options...]]]: no folder $DATA" >&2
  exit 2
}
[ -f "$SCENE" ] || { echo "scripts/main_job.sh: no scene image $SCENE" >&2; exit 2; }
BUILD_DIR=${BUILD_DIR:-build} OUT_DIR=${OUT_DIR:-out} BACKEND=${BACKEND:-auto} EPOCHS=${EPOCHS:-5}
NODATA=${NODATA-0,0,0}
export PATH="/usr/local/cuda/bin:$PATH"
WITH_CUDA=ON
command -v nvcc >/dev/null || WITH_CUDA=OFF
cmake -S . -B "$BUILD_DIR" -G Ninja -DLC_WITH_CUDA=$WITH_CUDA -DLC_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target landcover
mkdir -p "$OUT_DIR"
"$BUILD_DIR/landcover" info
"$BUILD_DIR/landcover" train --data "$DATA" --backend "$BACKEND" --epochs "$EPOCHS" \
  --out "$OUT_DIR/model.ckpt" --metrics "$OUT_DIR/metrics.csv" "$@"
"$BUILD_DIR/landcover" segment --model "$OUT_DIR/model.ckpt" --backend "$BACKEND" --mode window \
  ${NODATA:+--nodata "$NODATA"} --out-dir "$OUT_DIR" "$SCENE"
"$BUILD_DIR/landcover" segment --model "$OUT_DIR/model.ckpt" --backend "$BACKEND" --mode pixel \
  --out-dir "$OUT_DIR/pixel" "$SCENE"
echo "outputs in $OUT_DIR"
