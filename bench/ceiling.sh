#!/usr/bin/env bash
# How much of a durable upload's cost is the flushing: the upload benchmark of upload.sh
# against a build of HEAD with `bench/ceiling.patch` applied, which adds two switches
# that exist only in that build (never in the product):
#   WXIMG_CEILING_NO_SYNCFS=1   blob groups are not flushed (no syncfs, so within a run
#                               no picture data reaches the disk at all)
#   WXIMG_CEILING_NO_WALSYNC=1  picture rows are committed with synchronous=OFF
# Each variant runs next to the raw write+fsync+rename loop in the same run, like
# upload.sh. A diagnostic for BENCHMARKS.md: the variants without flushes are not
# durable, and their ratios are upper bounds, not results.
#
#   bench/ceiling.sh     # RUNS=2 COUNT=3000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-2}
COUNT=${COUNT:-3000}
cargo build --release -q -p wximg-bench
B=$PWD/target/release/wximg-bench
work=$(mktemp -d /var/tmp/wximg-ceiling.XXXXXX)
source bench/lib.sh
tree=$work/tree
cleanup() { stop_server; git worktree remove --force "$tree" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The patched build, in a target directory of its own so the normal one stays as it is.
git worktree add -q --detach "$tree" HEAD
git -C "$tree" apply "$PWD/bench/ceiling.patch"
CARGO_TARGET_DIR=$PWD/target/ceiling cargo build --release -q -p wximg-cli --manifest-path "$tree/Cargo.toml"
W=$PWD/target/ceiling/release/wximg

variants=("durable:" "no WAL sync:WXIMG_CEILING_NO_WALSYNC=1" "no syncfs:WXIMG_CEILING_NO_SYNCFS=1"
  "neither:WXIMG_CEILING_NO_WALSYNC=1 WXIMG_CEILING_NO_SYNCFS=1")
rows=()
for c in 16 64; do
  for i in $(seq "$RUNS"); do
    rows+=("raw $c $(fsync_run "$work/fsync-$c-$i" "$c" "$COUNT")")
    for v in "${variants[@]}"; do
      # shellcheck disable=SC2086 # the variables are words on purpose
      start_server "$W" "$work/data-$c-$i-${#rows[@]}" ${v#*:}
      rows+=("${v%%:*}|$c $(upload_run "$c" "$COUNT")")
      stop_server
    done
  done
done

python3 - "${rows[@]}" <<'PY'
import json, sys
best = {}
for row in sys.argv[1:]:
    label, rest = row.split(" ", 1) if row.startswith("raw ") else row.split("|", 1)
    c, line = rest.split(" ", 1)
    r = json.loads(line)
    key = (int(c), label)
    if key not in best or r["per_second"] > best[key]["per_second"]:
        best[key] = r
print("| concurrency | variant | uploads/s | ratio to raw loop | p50 ms | CPU µs per upload |")
print("|---|---|---|---|---|---|")
for c in (16, 64):
    raw = best[(c, "raw")]
    print(f"| {c} | raw write+fsync+rename loop | {raw['per_second']:.0f} | 1 | | {raw.get('cpu_us_per_op') or 0:.0f} |")
    for label in ("durable", "no WAL sync", "no syncfs", "neither"):
        r = best[(c, label)]
        print(f"| {c} | {label} | {r['per_second']:.0f} | {r['per_second']/raw['per_second']:.2f} | {r['p50_ms']:.1f} | {r['cpu_us_per_op']:.0f} |")
PY
