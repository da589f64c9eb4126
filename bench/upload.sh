#!/usr/bin/env bash
# Durable uploads vs a raw write+fsync+rename loop, and the server's memory under load.
#
#   bench/upload.sh            # prints a Markdown table for BENCHMARKS.md
#
# Same machine, same run, same disk: the baseline (bench/wximg-bench fsync-loop) and the
# server both run pinned to CPU 0; the load generator is pinned to CPU 1. Each figure is
# the best of RUNS runs (default 3).
#
# Every run writes into a directory of its own and nothing is deleted until the end: on
# ext4 without a journal, allocating an inode skips (and re-reads) the inodes deleted in
# the last seconds, so a run right after an `rm -rf` of thousands of files pays for it
# (seen as `recently_deleted` in the kernel profile), whichever side that happens to be.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
COUNT=${COUNT:-3000}
cargo build --release -q -p wximg-cli -p wximg-bench
W=$PWD/target/release/wximg
B=$PWD/target/release/wximg-bench
source bench/lib.sh
make_work bench
status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }

results=()
for c in 16 64; do
  base_runs=""; ours_runs=""
  for i in $(seq "$RUNS"); do
    base_runs+=$(fsync_run "$work/fsync-$c-$i" "$c" "$COUNT")$'\n'
    start_server "$W" "$work/data-$c-$i"
    ours_runs+=$(upload_run "$c" "$COUNT")$'\n'
    stop_server
  done
  results+=("$(printf '%s' "$base_runs" | best)" "$(printf '%s' "$ours_runs" | best)")
done

# Peak RSS with 256 concurrent 1 MiB uploads.
start_server "$W" "$work/data-rss"
rss_idle=$(status_kb "$SPID" VmHWM)
pin 1 "$B" upload --base "$BASE" --appid "$APPID" --secret "$SECRET" --concurrency 256 --count 1024 --size 1048576 > "$work/rss.json"
rss_peak=$(status_kb "$SPID" VmHWM)
stop_server

# RSS growth from one 50 MB hostile body (after a warm-up of ordinary uploads).
start_server "$W" "$work/data-hostile"
pin 1 "$B" upload --base "$BASE" --appid "$APPID" --secret "$SECRET" --concurrency 4 --count 64 --size 100000 > /dev/null
hw_before=$(status_kb "$SPID" VmHWM)
rss_before=$(status_kb "$SPID" VmRSS)
pin 1 "$B" hostile --base "$BASE" --appid "$APPID" --secret "$SECRET" --mb 50 > "$work/hostile.json"
hw_after=$(status_kb "$SPID" VmHWM)
rss_after=$(status_kb "$SPID" VmRSS)
stop_server

python3 - "$rss_idle" "$rss_peak" "$hw_before" "$hw_after" "$rss_before" "$rss_after" "$work/rss.json" "$work/hostile.json" "${results[@]}" <<'PY'
import json, sys
idle, peak, hwb, hwa, rb, ra = map(int, sys.argv[1:7])
rss_run = json.load(open(sys.argv[7])); hostile = json.load(open(sys.argv[8]))
rs = [json.loads(x) for x in sys.argv[9:]]
print("| concurrency | raw write+fsync+rename /s | wximg durable uploads /s | ratio (goal ≥ 0.8) | p50 ms | p99 ms | CPU µs per write, raw loop | CPU µs per upload, wximg |")
print("|---|---|---|---|---|---|---|---|")
for base, ours in zip(rs[0::2], rs[1::2]):
    print(f"| {ours['concurrency']} | {base['per_second']:.0f} | {ours['per_second']:.0f} | {ours['per_second']/base['per_second']:.2f} | {ours['p50_ms']:.1f} | {ours['p99_ms']:.1f} | {base.get('cpu_us_per_op') or 0:.0f} | {ours['cpu_us_per_op']:.0f} |")
print()
print(f"Peak RSS (VmHWM) with 256 concurrent 1 MiB uploads ({rss_run['count']} uploads, {rss_run['per_second']:.0f}/s, {rss_run['failures']} failed): "
      f"{peak/1024:.1f} MiB (idle {idle/1024:.1f} MiB; goal ≤ 128 MB)")
print(f"One 50 MB hostile body ({hostile['answer']}): VmHWM {hwb/1024:.1f} → {hwa/1024:.1f} MiB (+{(hwa-hwb)/1024:.1f}), "
      f"VmRSS {rb/1024:.1f} → {ra/1024:.1f} MiB (goal: growth ≤ 2 MB)")
PY
