#!/usr/bin/env bash
# Installs what is missing (scripts/install-deps.sh), then configures and builds repipe in
# build/ (Release, Ninja). Extra CMake arguments: REPIPE_CMAKE_ARGS="-DREPIPE_WITH_CUDA=OFF".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
build_dir=${BUILD_DIR:-build}
# shellcheck disable=SC2086  # REPIPE_CMAKE_ARGS is a list of arguments
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${REPIPE_CMAKE_ARGS:-} >/dev/null
# Each torch unit needs ~1.2 GB to compile: one job per core, and never more than memory allows.
jobs=$(nproc)
mem_jobs=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1600000 ))
[ "$mem_jobs" -ge 1 ] && [ "$mem_jobs" -lt "$jobs" ] && jobs=$mem_jobs
cmake --build "$build_dir" -j "$jobs"
