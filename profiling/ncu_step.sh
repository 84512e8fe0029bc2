#!/usr/bin/env bash
# Nsight Compute, full metric set, for every kernel of ONE training step (`step 5`, past the eager
# step 0 and the capture of step 1) of `landcover train` on the GPU (needs a GPU and ncu).
#   profiling/ncu_step.sh DATA_DIR [LANDCOVER_BIN] [OUT_BASENAME]  -> OUT_BASENAME.ncu-rep
# Env: BACKEND (cuda), STEP (5), MAX_IMAGES (100 per class).
# --nvtx --nvtx-include "step 5/" keeps only kernels launched inside the NVTX range `step 5` (the
# trailing slash matches a push/pop range). From step 2 on the step is a CUDA Graph replay, so
# --graph-profiling node is needed to profile the graph's kernels one by one (the default, graph,
# would report the whole graph as one result). Replays are serialised and slow (--set full replays
# each kernel tens of times); expect minutes.
#
# What to look at per kernel: "GPU Speed Of Light" (achieved % of peak FLOP/s and DRAM bandwidth:
# compare with the roofline bound of `landcover bench --roofline`), "Memory Workload Analysis"
# (L1/L2 hit rates, uncoalesced or excessive sectors per request), "Occupancy" (registers and shared
# memory per block limiting it), "Warp State Statistics" (stall reasons: long scoreboard = memory,
# barrier = __syncthreads imbalance, MIO throttle = shared memory), "Source Counters" (hot lines).
set -euo pipefail
DATA=${1:?usage: ncu_step.sh DATA_DIR [LANDCOVER_BIN] [OUT_BASENAME]}
BIN=${2:-build/landcover}
OUT=${3:-profiling/results/ncu_step}
STEP=${STEP:-5}
mkdir -p "$(dirname "$OUT")"
ncu --nvtx --nvtx-include "step ${STEP}/" --graph-profiling node --set full \
  --target-processes all --force-overwrite -o "$OUT" \
  "$BIN" train --backend "${BACKEND:-cuda}" --data "$DATA" --epochs 1 --batch 16 \
  --max-images "${MAX_IMAGES:-100}" --out "${OUT}.ckpt"
ncu --import "${OUT}.ncu-rep" --page details --csv > "${OUT}_details.csv"
echo "wrote ${OUT}.ncu-rep and ${OUT}_details.csv"
