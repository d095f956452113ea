#!/usr/bin/env bash
# The workload generator's speed (benchmarks/README.md, "workload generator"): `repipe workload
# synth` makes 10 million jobs of eight_modal (8 modes: the most quantile work) on the WorldCup
# trace, writing jobs.bucketed.csv, buckets.csv, setting.csv and latencies.csv, without the PNG;
# the whole command is timed, process start included, RUNS (5) times, even and Poisson arrivals
# alternating. Goal: under 10 s. Writes benchmarks/results/workload_speed_cpu.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
repipe=build/launch/repipe
[ -x "$repipe" ] || { echo "$repipe is missing: build first: scripts/build.sh" >&2; exit 1; }
runs=${RUNS:-5}
out=runs/workload_speed
csv=benchmarks/results/workload_speed_cpu.csv
mkdir -p runs benchmarks/results
echo "run,arrivals,jobs,seconds,jobs_csv_bytes" > "$csv"
for run in $(seq "$runs"); do
  for arrivals in even poisson; do
    start=$(date +%s.%N)
    "$repipe" workload synth --preset eight_modal --jobs 10000000 --arrivals "$arrivals" \
      --no-plot -o "$out" > /dev/null
    end=$(date +%s.%N)
    bytes=$(stat -c %s "$out/jobs.bucketed.csv")
    echo "$run,$arrivals,10000000,$(awk "BEGIN { print $end - $start }"),$bytes" >> "$csv"
  done
done
rm -rf "$out"
python3 - "$csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("| arrivals | runs | median s | min s | max s | jobs.bucketed.csv |")
print("|---|---:|---:|---:|---:|---:|")
for a in ("even", "poisson"):
    s = [float(r["seconds"]) for r in rows if r["arrivals"] == a]
    mb = int(rows[0]["jobs_csv_bytes"]) / 1e6
    print(f"| {a} | {len(s)} | {statistics.median(s):.2f} | {min(s):.2f} | {max(s):.2f} | {mb:.0f} MB |")
PY
echo "wrote $csv"
