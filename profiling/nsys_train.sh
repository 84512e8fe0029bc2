#!/usr/bin/env bash
# Nsight Systems timeline of a short `landcover train` run on the GPU (needs a GPU and nsys; it
# cannot run on a machine without one).
#   profiling/nsys_train.sh DATA_DIR [LANDCOVER_BIN] [OUT_BASENAME]   (defaults: build/landcover,
#   profiling/results/nsys_train) -> OUT_BASENAME.nsys-rep and OUT_BASENAME_stats.txt
# Env: BACKEND (cuda), MAX_IMAGES (200 per class), EPOCHS (1), BATCH (16).
#
# What to look at (nsys-ui, or the stats text):
#  - NVTX rows: `epoch N` > `step N` > `fwd` | `bwd` | `optim` > `L07 conv2d fwd [cuda]` ...; step 0
#    runs eagerly, step 1 is captured, later steps are one cudaGraphLaunch: the CUDA API row should
#    show one cudaGraphLaunch per step and no cudaMemcpy inside steps (only at epoch ends).
#  - GPU utilisation between steps: gaps on the CUDA HW row mean the host is the bottleneck
#    (batch gather, Python-free but still host work) rather than the kernels.
#  - cuda_gpu_kern_sum: which kernels dominate a step; compare with `landcover bench --roofline`.
#  - cuda_gpu_mem_time_sum / cuda_api_sum: host<->device copies per epoch (should be a few).
set -euo pipefail
DATA=${1:?usage: nsys_train.sh DATA_DIR [LANDCOVER_BIN] [OUT_BASENAME]}
BIN=${2:-build/landcover}
OUT=${3:-profiling/results/nsys_train}
mkdir -p "$(dirname "$OUT")"
nsys profile --trace=cuda,nvtx,cublas,cudnn,osrt --sample=none --cpuctxsw=none \
  --cuda-graph-trace=node --force-overwrite=true -o "$OUT" \
  "$BIN" train --backend "${BACKEND:-cuda}" --data "$DATA" --epochs "${EPOCHS:-1}" \
  --batch "${BATCH:-16}" --max-images "${MAX_IMAGES:-200}" --out "${OUT}.ckpt"
nsys stats --report nvtx_sum,cuda_gpu_kern_sum,cuda_api_sum,cuda_gpu_mem_time_sum \
  "${OUT}.nsys-rep" > "${OUT}_stats.txt"
echo "wrote ${OUT}.nsys-rep and ${OUT}_stats.txt"
