#!/usr/bin/env bash
# Installs the build dependencies from Debian's packages (libhdf5-dev: Keras model files; clang and libomp-dev: the libFuzzer
# build of scripts/fuzz.sh) (the CUDA toolkit with cuDNN, cuBLAS and
# the NVTX headers is expected under /usr/local/cuda; without it, build with -DLC_WITH_CUDA=OFF).
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  cmake ninja-build g++ pkg-config libgtest-dev libstb-dev libturbojpeg0-dev libpng-dev libcli11-dev nlohmann-json3-dev \
  libopenblas-dev libgdal-dev libproj-dev gdal-bin libnetcdf-dev libgsl-dev libplplot-dev \
  plplot-driver-cairo clang libomp-dev libcurl4-openssl-dev libarchive-dev libssl-dev libhdf5-dev \
  libopenmpi-dev openmpi-bin >/dev/null
echo "dependencies installed"
