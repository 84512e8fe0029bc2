#!/usr/bin/env bash
# Nsight Systems timeline of `landcover segment` (window mode) on the GPU (needs a GPU and nsys).
#   profiling/nsys_segment.sh CHECKPOINT IMAGE [LANDCOVER_BIN] [OUT_BASENAME]
#   (defaults: build/landcover, profiling/results/nsys_segment)
# Env: BACKEND (cuda), STRIDE (4), BATCH (1024).
#
# What to look at:
#  - NVTX: `image <stem>` > `tile N` > `batch N` > node ranges (`L01 conv2d infer [cuda]` ...).
#  - One host-to-device copy per tile (the packed rows) and one device-to-host copy per tile (the
#    classes): cuda_gpu_mem_time_sum should show that, not one copy per window or batch.
#  - Whether the GPU idles at tile boundaries (upload / download not overlapped with compute).
#  - Kernel time per batch vs `landcover bench --roofline --batch 1024` (inference forward bound).
set -euo pipefail
CKPT=${1:?usage: nsys_segment.sh CHECKPOINT IMAGE [LANDCOVER_BIN] [OUT_BASENAME]}
IMG=${2:?usage: nsys_segment.sh CHECKPOINT IMAGE [LANDCOVER_BIN] [OUT_BASENAME]}
BIN=${3:-build/landcover}
OUT=${4:-profiling/results/nsys_segment}
mkdir -p "$(dirname "$OUT")"
nsys profile --trace=cuda,nvtx,cublas,cudnn,osrt --sample=none --cpuctxsw=none \
  --force-overwrite=true -o "$OUT" \
  "$BIN" segment --backend "${BACKEND:-cuda}" --model "$CKPT" --stride "${STRIDE:-4}" \
  --batch "${BATCH:-1024}" --quiet --out-dir "${OUT}_maps" "$IMG"
nsys stats --report nvtx_sum,cuda_gpu_kern_sum,cuda_gpu_mem_time_sum "${OUT}.nsys-rep" > "${OUT}_stats.txt"
echo "wrote ${OUT}.nsys-rep and ${OUT}_stats.txt"
