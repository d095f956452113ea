#!/usr/bin/env bash
# The main demo from a fresh checkout: installs what is missing, builds, trains small_cnn as a
# 3-stage pipeline under mpirun, then shows a pipeline rebalancing itself live: the emulated
# VGG16 on 4 ranks with --dynamic while rank 1 runs 2.5x slower (about 1 minute on 2 cores after
# the build).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
run=runs/demo
rm -rf "$run"
scripts/mpirun.sh -np 3 build/launch/repipe train --config configs/small_cnn.toml \
  --threads 1 --output "$run"
echo
echo "== $run/ranks/rank1.csv (stage 1: time per step by kind, last 3 steps)"
{ head -1 "$run/ranks/rank1.csv"; tail -3 "$run/ranks/rank1.csv"; } | column -s, -t
echo "== $run/trace.json: every action of every rank; open it in https://ui.perfetto.dev"
echo "== $run/metrics.csv (every 10th step)"
awk -F, 'NR == 1 || ($1 % 10 == 0)' "$run/metrics.csv" | column -s, -t
if command -v gnuplot >/dev/null; then
  gnuplot -e "set terminal pngcairo size 800,450; set output '$run/loss.png';
    set datafile separator ','; set key autotitle columnhead; set xlabel 'step'; set ylabel 'loss';
    set logscale y; plot '$run/metrics.csv' using 1:2 with lines title 'train loss',
    '' using 1:7 with points pt 7 title 'held-out loss'" 2>/dev/null && echo "loss curve: $run/loss.png"
fi

echo
echo "== live repartitioning: emulated VGG16 (PipeDream's profile, 5% of its times) on 4 ranks,"
echo "   planned by repipe plan; rank 1 runs 2.5x slower on steps 60-139; --dynamic"
run=runs/demo-dynamic
rm -rf "$run"
mkdir -p "$run"
build/launch/repipe plan --profile configs/profiles/pipedream-vgg16-graph.txt --stages 4 \
  --microbatches 8 --microbatch-size 4 -o "$run/plan.toml" >/dev/null 2>&1
scripts/mpirun.sh -np 4 build/launch/repipe train --plan "$run/plan.toml" --time-scale 0.05 \
  --bytes-scale 0.001 --threads 1 --steps 200 --inject rank=1,factor=2.5,from=60,to=140 \
  --dynamic --output "$run" 2>/dev/null | grep -E '^(step [0-9]+:|  stage)'
echo "== $run/repartitions.csv"
column -s, -t "$run/repartitions.csv" | cut -c1-150
if command -v gnuplot >/dev/null; then
  arrows=$(awk -F, 'NR > 1 {printf "set arrow from %s, graph 0 to %s, graph 1 nohead dt 2; ", $1, $1}' \
    "$run/repartitions.csv")
  gnuplot -e "set terminal pngcairo size 900,450; set output '$run/step_time.png';
    set datafile separator ','; set xlabel 'step'; set ylabel 'step time (ms)'; set yrange [0:*];
    set object 1 rect from 60, graph 0 to 140, graph 1 fc rgb '#f6dcdc' fs solid noborder behind;
    $arrows set title 'rank 1 slowed 2.5x on steps 60-139 (shaded); dashed: live repartitions';
    plot '$run/metrics.csv' using 1:5 every ::1 with lines lw 2 title 'step time'" 2>/dev/null &&
    echo "step time: $run/step_time.png"
fi
