#!/usr/bin/env bash
# Run ON THE GPU MACHINE (Ubuntu 24.04, PyTorch 2.11, CUDA 13), from the repo root, with
# .gpu-deps carried (scripts/gpu-deps.sh): builds against PyTorch's libtorch, runs the test
# suite (GPU tests included), a GPU training run and the GPU benchmarks. Logs and CSVs go to
# $OUT (or results-gpu/).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results-gpu}
mkdir -p "$out"
log() { echo "== $*"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "cxx11 abi", torch.compiled_with_cxx11_abi())'

torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
deps=$PWD/.gpu-deps/root/usr
log "configure"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" "$@" >"$out/configure.log" 2>&1 \
  || { tail -40 "$out/configure.log"; exit 1; }
grep "repipe:" "$out/configure.log"
log "build"
cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { grep -B2 -A12 "error" "$out/build.log" | head -80; exit 1; }
grep -c "warning:" "$out/build.log" | sed 's/^/warnings: /'
log "tests"
ctest --test-dir build-gpu --output-on-failure -j 8 >"$out/ctest.log" 2>&1
tail -5 "$out/ctest.log"
grep -E "Failed|\*\*\*" "$out/ctest.log" | head -20
log "version and a GPU training run"
build-gpu/launch/repipe --version
build-gpu/launch/repipe train --model resnet50 --device cuda:0 --batch-size 64 --microbatches 2 \
  --steps 30 --lr 0.05 --output "$out/resnet50-run" 2>&1 | tail -3
build-gpu/launch/repipe train --model gpt2 --device cuda:0 --batch-size 16 --microbatches 2 \
  --optimizer adamw --lr 3e-4 --grad-clip 1 --steps 30 --output "$out/gpt2-run" 2>&1 | tail -3
log "benchmark: reference trainer vs plain libtorch loop"
build-gpu/benchmarks/trainer_overhead --device cuda:0 --large -n 5 --steps 20 \
  -o "$out/trainer_overhead_h100.csv"
