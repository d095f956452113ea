#!/usr/bin/env bash
# The stress generator's slowdown curve (benchmarks/README.md, "stress curve"): two probe blocks
# on CPU 0 beside one `repipe stress` co-runner of each kind, on the probe's core and on the
# other, at duty cycles from 0.1 to 1, twice each. The collection is `repipe profile
# interference`'s own; this script picks the configurations and draws the medians.
#   benchmarks/stress_curve.sh        (about 4 minutes on the 2-core VM; keep the machine idle)
# Writes benchmarks/results/stress_curve_cpu.csv (one row per kind, placement, intensity and
# probe: the median slowdown of the repeats) and benchmarks/results/stress_curve_cpu.png; the
# raw rows stay in runs/stress_curve/interference-curve.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
repipe=build/launch/repipe
[ -x "$repipe" ] || { echo "$repipe is missing: build first: scripts/build.sh" >&2; exit 1; }
probes=${PROBES:-small_cnn@16,mlp@8192}
base=runs/stress_curve
results=benchmarks/results
mkdir -p "$base" "$results"
"$repipe" profile interference --probes "$probes" --kinds compute,memory,mixed \
  --intensities 0.1,0.25,0.4,0.55,0.7,0.85,1 --corunners 1 --placements same,other --repeats 2 \
  -o "$base/interference-curve.csv"

csv=$results/stress_curve_cpu.csv
png=$results/stress_curve_cpu.png
python3 - "$base/interference-curve.csv" "$csv" "$base" <<'PY'
import csv, statistics, sys
from collections import defaultdict
raw, out, base = sys.argv[1:4]
groups = defaultdict(list)
with open(raw, newline='') as f:
    for r in csv.DictReader(f):
        if r['kind'] == 'none':
            continue
        groups[(r['probe'], r['kind'], r['placement'], float(r['intensity']))].append(float(r['slowdown']))
probes = sorted({k[0] for k in groups})
with open(out, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['probe', 'kind', 'placement', 'intensity', 'slowdown_median', 'slowdown_min',
                'slowdown_max', 'repeats'])
    for key in sorted(groups):
        v = groups[key]
        w.writerow([*key[:3], key[3], f'{statistics.median(v):.4f}', f'{min(v):.4f}',
                    f'{max(v):.4f}', len(v)])
# One data file per (probe, kind, placement) for gnuplot.
series = []
for key in sorted({k[:3] for k in groups}):
    name = f"{base}/curve-{len(series)}.dat"
    with open(name, 'w') as f:
        for k in sorted(k for k in groups if k[:3] == key):
            f.write(f"{k[3]} {statistics.median(groups[k])}\n")
    series.append((name, key))
with open(f'{base}/plot.gp', 'w') as f:
    f.write("set terminal pngcairo size 1100,480 noenhanced; set output ARG1\n")
    f.write("set multiplot layout 1,%d title 'slowdown of a probe block on CPU 0 beside one "
            "repipe stress co-runner (median of 2)'\n" % len(probes))
    f.write("set xlabel 'stress intensity (duty cycle)'; set ylabel 'slowdown'; set grid\n")
    f.write("set xrange [0:1.05]; set yrange [0.9:*]; set key top left\n")
    colors = {'compute': '#c0392b', 'memory': '#2471a3', 'mixed': '#1e8449'}
    for p in probes:
        plots = [f"'{n}' using 1:2 with linespoints lw 2 dt {1 if pl == 'same' else 2} "
                 f"lc rgb '{colors[kind]}' title '{kind}, {pl} core'"
                 for n, (probe, kind, pl) in series if probe == p]
        f.write(f"set title '{p}'\nplot " + ', '.join(plots) + "\n")
    f.write("unset multiplot\n")
print(f"wrote {out}")
PY
gnuplot -c "$base/plot.gp" "$png"
echo "wrote $png"
