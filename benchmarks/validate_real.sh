#!/usr/bin/env bash
# Predicted against measured step times for real models on 2 stages: `repipe profile` measures
# the blocks, `repipe plan` splits them, `repipe simulate` predicts, `repipe train` runs the
# plan under mpirun (benchmarks/README.md, "simulator validation"). About a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
repipe=build/launch/repipe
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=benchmarks/results/simulator_validation_real_cpu.csv
echo "model,stages,microbatches,microbatch_size,predicted_ms,measured_ms,measured_over_predicted" > "$out"
for spec in mlp:8 small_cnn:16; do
  model=${spec%%:*}
  size=${spec##*:}
  m=4
  "$repipe" profile --model "$model" --batch-size "$size" --threads 1 --repeats 30 \
    -o "$work/$model.csv" > /dev/null 2>&1
  "$repipe" plan --profile "$work/$model.csv" --model "$model" --stages 2 --microbatches $m \
    --microbatch-size "$size" --bandwidth 6GB/s --latency 5us -o "$work/$model.toml" > /dev/null
  predicted=$("$repipe" simulate --plan "$work/$model.toml" --profile "$work/$model.csv" \
    --bandwidth 6GB/s --latency 5us | awk '/predicted step/ {print $3}')
  scripts/mpirun.sh -np 2 "$repipe" train --plan "$work/$model.toml" --steps 60 --threads 1 \
    --output "$work/$model-run" > /dev/null 2>&1
  # Median step time of steps 11..60 (the first ones warm up).
  measured=$(awk -F, 'NR > 11 {print $5}' "$work/$model-run/metrics.csv" | sort -g |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  ratio=$(awk -v a="$measured" -v b="$predicted" 'BEGIN {printf "%.3f", a / b}')
  echo "$model,2,$m,$size,$predicted,$measured,$ratio" | tee -a "$out"
done
echo "wrote $out"
