#!/usr/bin/env bash
# The data path (benchmarks/README.md, "data path"), all measured side by side in one run:
#  1. datagen against dd: `dd if=/dev/zero of=F bs=1M count=2048 conv=fdatasync` first, then
#     `repipe datagen` of SIZE (2GiB) for every workload, flushed to the disk as dd is;
#  2. the loader against raw reads: each stored dataset read with `cat` after the page cache is
#     dropped (when this user may: root), then through the loader by `repipe bench io` with no
#     compute and the cache dropped again, in MB/s of stored bytes;
#  3. AU% of a CIFAR-10-like and a BERT-like config (configs/io/) at 1, 2 and 4 ranks.
# Writes benchmarks/results/data_path_{datagen,loader,au}.csv and prints the tables. Takes about
# five minutes and 10 GB of disk (runs/data-path, kept for reruns of parts 2 and 3).
set -euo pipefail
cd "$(dirname "$0")/.."
repipe=build/launch/repipe
[ -x "$repipe" ] || { echo "$repipe is missing: build first: scripts/build.sh" >&2; exit 1; }
size=${SIZE:-2GiB}
data=runs/data-path
results=benchmarks/results
mkdir -p "$data" "$results"

drop_caches() { sync; (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null || true; }
cache_dropped=$( (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null && echo yes || echo no)

# 1. datagen against dd, dd timed before each datagen (this VM's disk speed drifts by minutes):
# each workload's ratio is to the dd just before it.
echo "what,bytes,seconds,mb_per_s,ratio_to_dd" > "$results/data_path_datagen.csv"
for workload in cifar10 bert dlrm unet3d generic; do
  start=$(date +%s.%N)
  dd if=/dev/zero of="$data/dd.bin" bs=1M count=2048 conv=fdatasync status=none
  dd_s=$(awk "BEGIN { print $(date +%s.%N) - $start }")
  rm -f "$data/dd.bin"
  dd_mb=$(awk "BEGIN { print 2147483648 / 1e6 / $dd_s }")
  echo "dd,2147483648,$dd_s,$dd_mb,1" >> "$results/data_path_datagen.csv"
  rm -rf "${data:?}/$workload"
  start=$(date +%s.%N)
  "$repipe" datagen --workload "$workload" --size "$size" -o "$data/$workload" > /dev/null 2>&1
  seconds=$(awk "BEGIN { print $(date +%s.%N) - $start }")
  bytes=$(find "$data/$workload" -type f ! -name '.repipe-datagen' ! -name '*.txt' -printf '%s\n' |
          awk '{ s += $1 } END { print s }')
  mb=$(awk "BEGIN { print $bytes / 1e6 / $seconds }")
  echo "$workload,$bytes,$seconds,$mb,$(awk "BEGIN { print $mb / $dd_mb }")" \
    >> "$results/data_path_datagen.csv"
done

# 2. The loader against raw reads (the datasets repipe trains on).
echo "dataset,raw_mb_per_s,loader_mb_per_s,ratio,cache_dropped" > "$results/data_path_loader.csv"
for spec in "cifar10:$data/cifar10:256" "bert:$data/bert:256" "hdf5:$data/generic:256" \
            "dlrm:$data/dlrm:2048"; do
  kind=${spec%%:*}; rest=${spec#*:}; dir=${rest%:*}; batch=${rest##*:}
  drop_caches
  start=$(date +%s.%N)
  bytes=$(find "$dir" -type f \( -name '*.bin' -o -name '*.hdf5' -o -name '*.h5' \) -exec cat {} + | wc -c)
  raw=$(awk "BEGIN { print $bytes / 1e6 / ($(date +%s.%N) - $start) }")
  cat > "$data/loader.toml" <<TOML
[dataset]
path = "$kind:$dir"
[reader]
batch_size = $batch
readers = 2
prefetch = 4
[train]
steps = 200
compute_s = 0
[output]
folder = "$data/loader-$kind"
TOML
  drop_caches
  loader=$("$repipe" bench io --config "$data/loader.toml" 2>/dev/null | awk -F= '/^mb_per_s=/ { print $2 }')
  echo "$kind,$raw,$loader,$(awk "BEGIN { print $loader / $raw }"),$cache_dropped" \
    >> "$results/data_path_loader.csv"
done

# 3. AU% at 1, 2 and 4 ranks.
echo "config,ranks,au_percent,samples_per_s,mb_per_s,au_pass" > "$results/data_path_au.csv"
for config in cifar10 bert; do
  sed "s|runs/data/$config|$data/$config|; s|^folder = .*|folder = \"$data/au\"|; /^\[checkpoint\]/,/^$/d" \
    "configs/io/$config.toml" > "$data/au.toml"
  for ranks in 1 2 4; do
    out=$(scripts/mpirun.sh -np "$ranks" "$repipe" bench io --config "$data/au.toml" 2>/dev/null)
    get() { echo "$out" | awk -F= "/^$1=/ { print \$2 }"; }
    echo "$config,$ranks,$(get au_percent),$(get samples_per_s),$(get mb_per_s),$(get au_pass)" \
      >> "$results/data_path_au.csv"
  done
done

for f in datagen loader au; do
  echo "== $results/data_path_$f.csv"
  column -s, -t < "$results/data_path_$f.csv"
done
