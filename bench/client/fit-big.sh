#!/usr/bin/env bash
# `--fit` on big inputs (issue 14): a 24 MP photo-like JPEG and a 400 MP mostly-flat PNG,
# time and peak RSS of our fit (one process: read, decode, fit, write) next to libvips's
# `vipsthumbnail` resizing the same input to the same output size, in the same run.
#   bash bench/client/fit-big.sh
# Needs Debian's libvips-tools and nasm (mozjpeg's SIMD); installs them if missing.
# Inputs are generated at run time (nothing binary is committed), in $BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${BENCH_DIR:-/tmp/wximg-bench-client}/big"
mkdir -p "$work"

need=()
command -v vipsthumbnail >/dev/null || need+=(libvips-tools)
command -v nasm >/dev/null || need+=(nasm)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release -q -p wximg-client --example fit_bench
bench="${CARGO_TARGET_DIR:-target}/release/examples/fit_bench"
"$bench" gen-big "$work"
# The same photo with the grain of a high-ISO shot: it no longer fits at full size, so
# the fit decodes it DCT-scaled.
[ -e "$work/photo24-grain.jpg" ] ||
  /usr/bin/convert "$work/photo24.jpg" -attenuate 1.2 +noise Gaussian -quality 95 "$work/photo24-grain.jpg"

# peak_rss_mb SECONDS_FILE CMD…: runs CMD under /usr/bin/time -v; prints stdout of CMD,
# and leaves "seconds peak_MB" in SECONDS_FILE.
measure() {
  local out=$1; shift
  /usr/bin/time -v "$@" 2>"$out.time" >"$out.stdout"
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
              /Maximum resident set size/ { kb = $2 }
              END { printf "%.2f %.0f\n", s, kb / 1024 }' "$out.time" >"$out"
}

echo "| input | output | ours: s | ours: peak RSS MB | vipsthumbnail: s | vipsthumbnail: peak RSS MB | time ratio | RSS ratio | what fit did |"
echo "|---|---|---|---|---|---|---|---|---|"
for input in photo24.jpg photo24-grain.jpg flat400.png; do
  in="$work/$input"
  measure "$work/ours.m" "$bench" one "$in" "$work/$input.out.fit.jpg"
  read -r w h bytes ms summary <"$work/ours.m.stdout"
  read -r ours_s ours_mb <"$work/ours.m"
  measure "$work/vips.m" vipsthumbnail "$in" --size "${w}x${h}!" -o "$work/$input.out.vips.jpg[Q=85]"
  read -r vips_s vips_mb <"$work/vips.m"
  awk -v i="$input" -v w="$w" -v h="$h" -v b="$bytes" -v os="$ours_s" -v om="$ours_mb" \
      -v vs="$vips_s" -v vm="$vips_mb" -v sum="$summary" \
      'BEGIN { printf "| %s | %s×%s, %d B | %.2f | %d | %.2f | %d | %.2f | %.2f | %s |\n", i, w, h, b, os, om, vs, vm, os / vs, om / vm, sum }'
done
