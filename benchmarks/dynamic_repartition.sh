#!/usr/bin/env bash
# Live repartitioning under an injected slowdown (benchmarks/README.md, "dynamic
# repartitioning"): rank 1 runs 2.5x slower on steps FROM..TO-1, and three runs with the same
# injection are compared: static (the best plan for the normal cluster, never changed: PipeDream's
# baseline), dynamic (the same plan with --dynamic) and best_static (the best plan for the slowed
# cluster: the reference for throughput during the slowdown).
#   benchmarks/dynamic_repartition.sh [vgg16|mlp] [schedule]     (defaults: vgg16 1f1b-stash)
# vgg16: PipeDream's VGG16 profile emulated on 4 ranks; mlp: the real mlp on 2 ranks. Writes
# benchmarks/results/dynamic_repartition_<case>_<schedule>{_cpu.csv,_steps_cpu.csv,.png} and
# prints a markdown table. About 13 minutes for vgg16 (3 x 1,000 steps), 30 s for mlp.
# STEPS (1000), FROM (200), TO (600) and SCALE (vgg16's time scale, 0.1) shrink it for a smoke
# run; a run with any of them set keeps its results beside its runs, not in benchmarks/results.
# RUNS="dynamic" reruns only the runs named (the others' results are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-vgg16}
schedule=${2:-1f1b-stash}
steps=${STEPS:-1000} from=${FROM:-200} to=${TO:-600} scale=${SCALE:-0.1}
repipe=build/launch/repipe
[ -x "$repipe" ] || { echo "$repipe is missing: build first: scripts/build.sh" >&2; exit 1; }
[[ $model =~ ^(vgg16|mlp)$ ]] || { echo "usage: $0 [vgg16|mlp] [schedule]" >&2; exit 1; }
base=runs/dynamic_repartition/$model-$schedule
results=benchmarks/results
[ -z "${STEPS:-}${FROM:-}${TO:-}${SCALE:-}" ] || results=$base
runs=${RUNS:-static dynamic best_static}
[ -n "${RUNS:-}" ] || rm -rf "$base"
mkdir -p "$base" "$results"

case $model in
  vgg16)
    ranks=4
    plan_args=(--profile configs/profiles/pipedream-vgg16-graph.txt --stages 4 --microbatches 8
      --microbatch-size 4)
    train_args=(--time-scale "$scale" --bytes-scale 0.001)
    title="emulated VGG16 (time scale $scale), 4 ranks, batch 32 = 8 x 4" ;;
  mlp)
    # Micro-batches of 64 so that the blocks cost something next to the engine's fixed costs.
    ranks=2
    "$repipe" profile --model mlp --batch-size 64 --threads 1 -o "$base/profile.csv" > /dev/null 2>&1
    plan_args=(--profile "$base/profile.csv" --model mlp --stages 2 --microbatches 4
      --microbatch-size 64)
    train_args=()
    title="mlp, 2 ranks, batch 256 = 4 x 64" ;;
esac
title="$title, $schedule: rank 1 slowed 2.5x on steps $from-$((to - 1))"
# even: the best plan for the normal cluster; slowed: for device 1 at 0.4 speed (2.5x slower).
echo "== plans: even (normal cluster), slowed (device 1 at 0.4 speed)"
"$repipe" plan "${plan_args[@]}" --schedule "$schedule" -o "$base/even.toml" 2>&1 | grep -v '^wrote'
"$repipe" plan "${plan_args[@]}" --schedule "$schedule" --speed 1:0.4 -o "$base/slowed.toml" 2>&1 |
  grep -v '^wrote'

for run in $runs; do
  rm -rf "${base:?}/$run"
  plan=$base/even.toml extra=()
  case $run in
    dynamic) extra=(--dynamic) ;;
    best_static) plan=$base/slowed.toml ;;
  esac
  echo "== $run: $steps steps of $plan${extra[*]:+ ${extra[*]}}, log in $base/$run.log"
  start=$SECONDS
  scripts/mpirun.sh -np "$ranks" "$repipe" train --plan "$plan" "${train_args[@]}" \
    --steps "$steps" --inject "rank=1,factor=2.5,from=$from,to=$to" --threads 1 "${extra[@]}" \
    --output "$base/$run" > "$base/$run.log" 2>&1 || { tail -20 "$base/$run.log" >&2; exit 1; }
  echo "   done in $((SECONDS - start)) s"
  grep -E 'repartitioned' "$base/$run.log" | sed 's/^/   /' || true
done

csv=$results/dynamic_repartition_${model}_${schedule}_cpu.csv
steps_csv=$results/dynamic_repartition_${model}_${schedule}_steps_cpu.csv
png=$results/dynamic_repartition_${model}_${schedule}.png
python3 - "$base" "$csv" "$steps_csv" "$model" "$schedule" "$ranks" "$steps" "$from" "$to" \
  "$([ "$model" = vgg16 ] && echo "$scale" || echo "")" <<'EOF'
import csv, math, statistics, sys
base, out, steps_out, model, schedule, ranks = sys.argv[1:7]
steps, frm, to = map(int, sys.argv[7:10])
scale = sys.argv[10]
runs = ('static', 'dynamic', 'best_static')

def rows(path):
    try:
        with open(path, newline='') as f:  # csv: the cause may hold quoted commas
            return list(csv.DictReader(f))
    except FileNotFoundError:  # repartitions.csv exists only for dynamic runs
        return []

ms = {r: {int(x['step']): float(x['step_ms']) for x in rows(f'{base}/{r}/metrics.csv')}
      for r in runs}
reps = rows(f'{base}/dynamic/repartitions.csv')

def mean(run, lo, hi):
    v = [ms[run][s] for s in range(lo, hi) if s in ms[run]]
    return sum(v) / len(v) if v else math.nan

# The migration runs between steps, outside step_ms: the whole run is both.
total_s = {r: sum(ms[r].values()) / 1e3 for r in runs}
total_s['dynamic'] += sum(float(x['ms']) for x in reps) / 1e3
first = next((x for x in reps if int(x['decided_step']) >= frm), None)
decided = int(first['decided_step']) if first else math.nan
moved = int(first['step']) if first else math.nan
detection = decided - frm + 1 if first else math.nan
# Throughput during the slowdown once the dynamic run has settled on its new plan.
slow_lo = moved + 10 if first else to
slowed = {r: mean(r, slow_lo, to) for r in runs}
normal = {r: mean(r, 20, frm) for r in runs}
back = any(int(x['decided_step']) >= to for x in reps)
reps_text = '; '.join(f"step {x['step']} {float(x['ms']):.1f} ms {x['bytes_moved']} B" for x in reps)
start_plan = reps[0]['old_plan'] if reps else ''
final_plan = reps[-1]['new_plan'] if reps else start_plan

f2, f3 = '{:.2f}'.format, '{:.3f}'.format
row = {
    'case': model, 'schedule': schedule, 'ranks': ranks, 'time_scale': scale, 'steps': steps,
    'slow_rank': 1, 'slow_factor': 2.5, 'slow_from': frm, 'slow_to': to,
    'static_s': f3(total_s['static']), 'dynamic_s': f3(total_s['dynamic']),
    'best_static_s': f3(total_s['best_static']),
    'speedup_static_over_dynamic': f3(total_s['static'] / total_s['dynamic']),
    'detection_steps': detection, 'decided_step': decided, 'first_move_step': moved,
    'slowed_from_step': slow_lo, 'slowed_static_ms': f2(slowed['static']),
    'slowed_dynamic_ms': f2(slowed['dynamic']), 'slowed_best_static_ms': f2(slowed['best_static']),
    'best_static_over_dynamic': f3(slowed['best_static'] / slowed['dynamic']),
    'normal_static_ms': f2(normal['static']), 'normal_dynamic_ms': f2(normal['dynamic']),
    'normal_best_static_ms': f2(normal['best_static']), 'repartitions': len(reps),
    'repartition_step_ms_bytes': reps_text, 'repartition_after_to': 'yes' if back else 'no',
    'start_plan': start_plan, 'final_plan': final_plan,
}
with open(out, 'w', newline='') as f:
    w = csv.DictWriter(f, row.keys())
    w.writeheader()
    w.writerow(row)
with open(steps_out, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['step', 'static_ms', 'dynamic_ms', 'best_static_ms'])
    for s in range(1, steps + 1):
        w.writerow([s] + [ms[r].get(s, '') for r in runs])
# For the plot: a centred 10-step moving median, which the spikes of single steps do not move.
with open(f'{base}/smoothed.csv', 'w') as f:
    for s in range(1, steps + 1):
        f.write(f'{s},' + ','.join(
            str(statistics.median(v)) if (v := [ms[r][t] for t in range(s - 5, s + 5) if t in ms[r]])
            else 'NaN' for r in runs) + '\n')
with open(f'{base}/repartition_steps.txt', 'w') as f:
    f.writelines(f"{x['step']}\n" for x in reps)

print(f"\n| case | schedule | static s | dynamic s | static / dynamic [>= 1.3] "
      f"| detection steps [<= 20] | moved at step | slowed static ms | slowed dynamic ms "
      f"| slowed best static ms | best static / dynamic [>= 0.90] | normal ms: static / dynamic / "
      f"best static | repartitions | one after step {to} [yes] |")
print('|---|---|' + '---:|' * 11 + '---|')
print(f"| {model} | {schedule} | {total_s['static']:.1f} | {total_s['dynamic']:.1f} "
      f"| {row['speedup_static_over_dynamic']} | {detection} | {moved} | {slowed['static']:.1f} "
      f"| {slowed['dynamic']:.1f} | {slowed['best_static']:.1f} | {row['best_static_over_dynamic']} "
      f"| {normal['static']:.1f} / {normal['dynamic']:.1f} / {normal['best_static']:.1f} "
      f"| {len(reps)} | {row['repartition_after_to']} |")
print(f"\nslowed: steps {slow_lo}..{to - 1}; normal: steps 20..{frm - 1}. Repartitions of the dynamic run:")
for x in reps:
    print(f"  step {x['step']} (decided at {x['decided_step']}, {x['cause']}): {x['old_plan']} -> "
          f"{x['new_plan']}, {x['blocks_moved']} blocks, {int(x['bytes_moved']) / 1024:.1f} KiB "
          f"in {float(x['ms']):.1f} ms")
EOF

# Dashed vertical lines at the dynamic run's repartitions; the slowdown is the shaded band.
arrows=$(awk '{printf "set arrow from %s, graph 0 to %s, graph 1 nohead dt 2 lc rgb \"gray30\"; ", $1, $1}' \
  "$base/repartition_steps.txt")
gnuplot -e "set terminal pngcairo size 1000,500; set output '$png'; set datafile separator ',';
  set title '$title'; set xlabel 'step'; set ylabel 'step time (ms), 10-step moving median'; set yrange [0:*];
  set key below horizontal; set grid ytics;
  set object 1 rect from $from, graph 0 to $to, graph 1 fc rgb '#f6dcdc' fs solid noborder behind;
  $arrows
  plot '$base/smoothed.csv' using 1:2 with lines lw 2 lc rgb '#c0392b' title 'static (even plan)',
    '' using 1:3 with lines lw 2 lc rgb '#2471a3' title 'dynamic (even plan, --dynamic)',
    '' using 1:4 with lines lw 1 dt 2 lc rgb '#1e8449' title 'best static for the slowdown',
    NaN with lines dt 2 lc rgb 'gray30' title 'repartition (dynamic)',
    NaN with boxes fs solid fc rgb '#f6dcdc' title 'rank 1 slowed 2.5x'"
echo "wrote $csv, $steps_csv and $png"
