#!/usr/bin/env bash
# The main demo from a fresh checkout: installs what is missing, builds, then trains small_cnn
# as a 3-stage pipeline under mpirun (about 20 s on 2 cores after the build). The demo grows
# into a run that repartitions live as that work lands.
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
