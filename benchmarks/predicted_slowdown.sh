#!/usr/bin/env bash
# The slowdown predictor at run time (benchmarks/README.md, "predicted against measured"): a
# 2-rank small_cnn pipeline trains with --slowdown-predictor (trained here on the committed CPU
# dataset) while a `repipe stress` co-runner of KIND (memory) loads stage 0's core for 6 s from
# step 80. Each monitor window's predicted slowdown is compared with the measured one.
#   benchmarks/predicted_slowdown.sh [compute|memory|mixed]      (about 40 s; keep the machine idle)
# Writes benchmarks/results/predicted_slowdown_<kind>_cpu.csv (predictions.csv of the run) and
# .png, and prints the error during and outside the stress.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-memory}
[[ $kind =~ ^(compute|memory|mixed)$ ]] || { echo "usage: $0 [compute|memory|mixed]" >&2; exit 1; }
repipe=build/launch/repipe
[ -x "$repipe" ] || { echo "$repipe is missing: build first: scripts/build.sh" >&2; exit 1; }
base=runs/predicted_slowdown/$kind
results=benchmarks/results
rm -rf "$base" && mkdir -p "$base" "$results"
"$repipe" predictor train --data data/interference/interference-cpu.csv -o "$base/predictor" > /dev/null

# Open MPI binds rank 0 to core 0 with two ranks on two cores: the co-runner goes there.
scripts/mpirun.sh -np 2 "$repipe" train --model small_cnn --batch-size 64 --microbatches 4 \
  --steps 400 --threads 1 --slowdown-predictor "$base/predictor" --output "$base/run" \
  > "$base/train.log" 2>&1 &
train=$!
until [ -f "$base/run/metrics.csv" ] && [ "$(wc -l < "$base/run/metrics.csv")" -gt 80 ]; do
  kill -0 $train 2> /dev/null || { tail -20 "$base/train.log" >&2; exit 1; }
  sleep 0.1
done
"$repipe" stress --kind "$kind" --intensity 1 --seconds 6 --cores 0 > "$base/stress.log"
wait $train || { tail -20 "$base/train.log" >&2; exit 1; }

csv=$results/predicted_slowdown_${kind}_cpu.csv
png=$results/predicted_slowdown_${kind}_cpu.png
cp "$base/run/predictions.csv" "$csv"
python3 - "$csv" "$base" "$kind" <<'PY'
import csv, statistics, sys
path, base, kind = sys.argv[1:4]
rows = [r for r in csv.DictReader(open(path)) if r['stage'] == '0']
# A window is under stress when the micro-probes on stage 0's core lost a third of their speed.
def stressed(r):
    return min(float(r['load_compute_fraction']), float(r['load_memory_fraction'])) < 0.6 \
        and float(r['load_core_util']) > 0.3
def mape(rs):
    return statistics.mean(abs(float(r['predicted_slowdown']) - float(r['measured_slowdown'])) /
                           float(r['measured_slowdown']) * 100 for r in rs) if rs else float('nan')
inside = [r for r in rows if stressed(r)]
outside = [r for r in rows if not stressed(r)]
with open(f'{base}/stage0.dat', 'w') as f:
    for r in rows:
        f.write(f"{r['step']} {r['measured_slowdown']} {r['predicted_slowdown']}\n")
print(f"| co-runner | windows under stress | measured (median) | predicted (median) | MAPE under stress | MAPE otherwise |")
print(f"|---|---:|---:|---:|---:|---:|")
med = lambda rs, k: statistics.median(float(r[k]) for r in rs) if rs else float('nan')
print(f"| {kind}, intensity 1, stage 0's core | {len(inside)} | {med(inside, 'measured_slowdown'):.2f} "
      f"| {med(inside, 'predicted_slowdown'):.2f} | {mape(inside):.1f}% | {mape(outside):.1f}% |")
PY
gnuplot -e "set terminal pngcairo size 900,420 noenhanced; set output '$png';
  set title 'small_cnn, 2 ranks: stage 0 beside a $kind stress on its core for 6 s from step 80';
  set xlabel 'step'; set ylabel 'slowdown against the reference window'; set grid; set key top right;
  plot '$base/stage0.dat' using 1:2 with linespoints lw 2 title 'measured (monitor)',
       '' using 1:3 with linespoints lw 2 dt 2 title 'predicted (slowdown predictor)'"
echo "wrote $csv and $png"
