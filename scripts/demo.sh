#!/usr/bin/env bash
# The main demo from a fresh checkout: installs what is missing, builds, then trains.
# Today: the single-stage reference trainer on small_cnn (about 10 s on 2 cores); the demo
# grows into a multi-rank run that repartitions live as the engine lands.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
run=runs/demo
rm -rf "$run"
build/launch/repipe train --config configs/small_cnn.toml --output "$run"
echo
echo "== $run/metrics.csv (every 10th step)"
awk -F, 'NR == 1 || ($1 % 10 == 0)' "$run/metrics.csv" | column -s, -t
if command -v gnuplot >/dev/null; then
  gnuplot -e "set terminal pngcairo size 800,450; set output '$run/loss.png';
    set datafile separator ','; set key autotitle columnhead; set xlabel 'step'; set ylabel 'loss';
    set logscale y; plot '$run/metrics.csv' using 1:2 with lines title 'train loss',
    '' using 1:7 with points pt 7 title 'held-out loss'" 2>/dev/null && echo "loss curve: $run/loss.png"
fi
