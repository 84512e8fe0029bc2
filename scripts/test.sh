#!/usr/bin/env bash
# Builds everything (the CUDA kernels for sm_80 and sm_90 included, when nvcc is present) and runs
# the test labels that need no GPU-only hardware: emu (kernels in the SIMT emulator, in normal and
# reverse schedule order), cpu (the hostile-use suite tests/hostile/ included), gpu (skips with the
# reason where no GPU is usable), e2e, naming. Fails when no test runs.
#   BUILD_DIR   build directory (default: build)
#   LC_SHARED_DIR  the shared data (default: ../shared next to the checkout, when present)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
export PATH="/usr/local/cuda/bin:$PATH"
if [ -z "${LC_SHARED_DIR:-}" ] && [ -d ../shared ]; then export LC_SHARED_DIR="$(cd ../shared && pwd)"; fi
WITH_CUDA=ON
command -v nvcc >/dev/null || { echo "nvcc not found: building without the cuda/cudnn backends"; WITH_CUDA=OFF; }
# -DLC_BUILD_TESTS=ON: a build folder configured without tests (scripts/main_job.sh) gets them back.
cmake -S . -B "$BUILD_DIR" -G Ninja -DLC_WITH_CUDA=$WITH_CUDA -DLC_WERROR=ON -DLC_BUILD_TESTS=ON ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j2
# --no-tests=error: a run that finds no test fails instead of passing silently.
ctest --test-dir "$BUILD_DIR" -L '^(emu|emu-reverse|cpu|gpu|e2e|naming)$' -j2 --output-on-failure --timeout 1800 --no-tests=error
