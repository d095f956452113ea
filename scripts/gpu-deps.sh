#!/usr/bin/env bash
# Run HERE (Debian 12) before a GPU check: puts the Debian packages the GPU machine lacks
# (toml++, CLI11, xgboost with its libdmlc for the slowdown predictor, and GLPK with the
# SuiteSparse parts it loads for `repipe optimize`) into .gpu-deps/root,
# an ignored folder the `device` tool carries. libxgboost loads libdmlc.so.0 by name, so a run
# there needs LD_LIBRARY_PATH=.gpu-deps/root/usr/lib/x86_64-linux-gnu.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps/debs
(cd .gpu-deps/debs && apt-get download libtomlplusplus-dev libtomlplusplus3 libcli11-dev \
  libxgboost-dev libxgboost0 libdmlc0 libglpk-dev libglpk40 libamd2 libcolamd2 \
  libsuitesparseconfig5 libltdl7 >/dev/null)
rm -rf .gpu-deps/root
for deb in .gpu-deps/debs/*.deb; do dpkg-deb -x "$deb" .gpu-deps/root; done
echo "gpu-deps: $(ls .gpu-deps/debs | tr '\n' ' ')"
