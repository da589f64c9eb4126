#!/usr/bin/env bash
# Client benchmarks (issue 3): `--fit` next to ImageMagick, and batch upload throughput.
#   bash bench/client/run.sh [fit|upload|all]
# Needs Debian's imagemagick (6.9) and nasm (mozjpeg's SIMD); installs them if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
what="${1:-all}"
work="${BENCH_DIR:-/tmp/wximg-bench-client}"
mkdir -p "$work"

need=()
[ -x /usr/bin/convert ] || need+=(imagemagick)
command -v nasm >/dev/null || need+=(nasm)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release -q -p wximg-client --example fit_bench
bench=target/release/examples/fit_bench

if [ "$what" = fit ] || [ "$what" = all ]; then
  echo "## --fit vs ImageMagick (12 MP photo-like JPEG q95 inputs)"
  "$bench" fit "$work/fit" "${FIT_N:-6}"
fi

if [ "$what" = upload ] || [ "$what" = all ]; then
  cargo build --release -q -p wximg-cli
  wximg=target/release/wximg
  "$bench" small "$work/small" 500
  echo
  echo "## batch upload of 500 small JPEGs to a local wximg (embedded storage)"
  echo "| --jobs | seconds | pictures/s |"
  echo "|---|---|---|"
  for jobs in 1 4 16; do
    data="$work/data-$jobs"; rm -rf "$data"
    app=$("$wximg" app create --type official --json --data "$data")
    appid=$(echo "$app" | sed -E 's/.*"appid":"([^"]+)".*/\1/')
    secret=$(echo "$app" | sed -E 's/.*"secret":"([^"]+)".*/\1/')
    fifo="$work/serve-$jobs.out"; rm -f "$fifo"
    "$wximg" serve --listen 127.0.0.1:0 --data "$data" >"$fifo" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$fifo" 2>/dev/null && break; sleep 0.1; done
    base=$(sed -E 's/^wximg listening on //' "$fifo" | head -1)
    export WXIMG_BASE_URL="$base" WXIMG_APPID="$appid" WXIMG_SECRET="$secret" WXIMG_CACHE_DIR="$work/cache-$jobs"
    "$wximg" token >/dev/null   # the token is fetched (and cached) outside the timing
    start=$(date +%s.%N)
    "$wximg" upload --jobs "$jobs" "$work"/small/*.jpg >/dev/null
    end=$(date +%s.%N)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    awk -v s="$start" -v e="$end" -v j="$jobs" 'BEGIN { t = e - s; printf "| %d | %.2f | %.0f |\n", j, t, 500 / t }'
  done
fi
