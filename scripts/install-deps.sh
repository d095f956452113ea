#!/usr/bin/env bash
# Installs repipe's build and run dependencies from Debian 12's archive (idempotent:
# packages already present are skipped, so a second run costs a second).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config ccache git
  libopenmpi-dev openmpi-bin
  libtorch-dev
  libopenblas0-openmp  # Debian's libtorch calls the reference BLAS otherwise: ~10x slower matmuls
  libhdf5-dev
  libeigen3-dev
  libtomlplusplus-dev
  libcli11-dev
  libxgboost-dev  # the slowdown predictor's gradient-boosted trees (xgboost's C API)
  libglpk-dev  # repipe optimize --solver milp (GLPK's branch and bound)
  libgtest-dev libgmock-dev
  libbenchmark-dev
  gnuplot-nox
  python3-h5py  # the checkpoint test reads checkpoints with h5py, as users will
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
