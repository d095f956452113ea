#!/usr/bin/env bash
# Predicted against measured step times: the emulated VGG16 and ResNet-50 profiles on 2, 4 and 8
# stages, GPipe and 1F1B with flush, 8 micro-batches, at the profiles' own times (time scale 1)
# and at a fifth of them, where the engine's fixed costs weigh 5x more (benchmarks/README.md,
# "simulator validation"). Writes benchmarks/results/simulator_validation_cpu.csv. About 6
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/simulator_validation_cpu.csv
parts=()
for scale in 1 0.2; do
  for profile in vgg16 resnet50; do
    # ~870 ms (VGG16) and ~440 ms (ResNet-50) of forward + backward per micro-batch at scale 1.
    for ranks in 2 4 8; do
      part=$(mktemp)
      scripts/mpirun.sh -np "$ranks" build/benchmarks/emulated_pipeline \
        --profile "configs/profiles/pipedream-$profile-graph.txt" --time-scale "$scale" \
        --schedules gpipe 1f1b-flush --microbatches 8 --steps 4 --csv "$part"
      parts+=("$part")
    done
  done
done
{ head -1 "${parts[0]}"; for part in "${parts[@]}"; do tail -n +2 "$part"; done; } > "$out"
rm -f "${parts[@]}"
echo "wrote $out"
