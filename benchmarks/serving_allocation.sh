#!/usr/bin/env bash
# DeInfer-style allocation against its baselines in the serving simulator (benchmarks/README.md,
# "serving allocation"): the example repository (configs/inference/models), the mean load
# configs/inference/loads/trace.toml on 4 GPUs, Poisson arrivals shaped by the WorldCup window
# and by the Azure-shaped trace, 600 simulated seconds, seeds 1..3. Per trace and seed:
#   deinfer         queueing- and interference-aware (margin 0.95), CUSUM re-allocation;
#   deinfer-m0.7    the same with more headroom: a placement needs D <= 0.7 MaxD;
#   deinfer-static  deinfer's plan, never re-allocated;
#   greedy          DeInfer's placement without interference prediction, CUSUM re-allocation;
#   even-4          every model the same share of the 4 GPUs (rates ignored);
#   even-2          the same on 2 GPUs, about deinfer's allocated share.
# Writes benchmarks/results/serving_allocation.csv and prints it; about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
repipe=build/launch/repipe
[ -x "$repipe" ] || { echo "$repipe is missing: build first: scripts/build.sh" >&2; exit 1; }
repo=configs/inference/models
load=configs/inference/loads/trace.toml
out=runs/serving-allocation
csv=benchmarks/results/serving_allocation.csv
mkdir -p "$out"
# variant: plan flags | simulate flags
declare -A plan_flags=([deinfer]="--policy deinfer" [deinfer-m0.7]="--policy deinfer --margin 0.7"
  [deinfer-static]="--policy deinfer" [greedy]="--policy greedy" [even-4]="--policy even"
  [even-2]="--policy even")
gpus() { [ "$1" = even-2 ] && echo 2 || echo 4; }
declare -A simulate_flags=([deinfer-m0.7]="--margin 0.7" [deinfer-static]="--no-reallocate")
variants="deinfer deinfer-m0.7 deinfer-static greedy even-4 even-2"
for variant in $variants; do
  # shellcheck disable=SC2086
  "$repipe" allocate plan --repo "$repo" --load "$load" --gpus "$(gpus "$variant")" ${plan_flags[$variant]} \
    -o "$out/plan-$variant.toml" > /dev/null
done
echo "trace,variant,seed,requests,miss_rate,late,dropped,p50_ms,p99_ms,allocated_percent,busy_percent,reallocations" > "$csv"
for trace in worldcup data/traces/azure-shaped.csv; do
  name=$(basename "$trace" .csv)
  for seed in 1 2 3; do
    for variant in $variants; do
      run="$out/$name-$variant-$seed"
      # shellcheck disable=SC2086
      "$repipe" allocate simulate --repo "$repo" --plan "$out/plan-$variant.toml" --trace "$trace" \
        --duration 600 --seed "$seed" ${simulate_flags[$variant]:-} -o "$run" > /dev/null
      all=$(awk -F, '$1 == "all" { print $2 "," $6 "," $4 "," $5 "," $7 "," $8 }' "$run/summary.csv")
      IFS=, read -r requests miss late dropped p50 p99 <<< "$all"
      use=$(awk -F, 'NR > 1 { a += $2; b += $3; n++ } END { print a / n "," b / n }' "$run/gpus.csv")
      moves=$(($(wc -l < "$run/reallocations.csv") - 1))
      echo "$name,$variant,$seed,$requests,$miss,$late,$dropped,$p50,$p99,$use,$moves" >> "$csv"
    done
  done
done
column -s, -t < "$csv"
