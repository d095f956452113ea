#!/usr/bin/env bash
# The whole test suite from a fresh checkout: installs what is missing, builds, runs ctest.
# Arguments go to ctest (e.g. scripts/test.sh -R Cli). GPU tests skip cleanly without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@"
