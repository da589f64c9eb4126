#!/usr/bin/env bash
# `--fit` quality on a varied set (issue 14): photos, a screenshot, line art and text on
# flat colour, each through our fit and ImageMagick 6.9's `convert IN -define
# jpeg:extent=1MiB OUT.jpg`, scored with SSIMULACRA2 against the input; time per picture
# (best of $FIT_RUNS alternating runs, default 3).
#   bash bench/client/fit-quality.sh
# Needs Debian's imagemagick and nasm; installs them if missing. Every input is generated
# at run time with ImageMagick's built-ins and our photo-like generator (nothing
# binary is committed), in $BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${BENCH_DIR:-/tmp/wximg-bench-client}/quality"
mkdir -p "$work"

need=()
[ -x /usr/bin/convert ] || need+=(imagemagick)
command -v nasm >/dev/null || need+=(nasm)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
im=/usr/bin/convert

cargo build --release -q -p wximg-client --example fit_bench
bench="${CARGO_TARGET_DIR:-target}/release/examples/fit_bench"

# Photo-like 12 MP JPEGs (q95) from our generator: two noise levels.
if [ ! -e "$work/photo-grain-low.jpg" ]; then
  FIT_RUNS=1 "$bench" fit "$work/gen" 2 >/dev/null
  cp "$work/gen/photo0.jpg" "$work/photo-grain-low.jpg"
  cp "$work/gen/photo1.jpg" "$work/photo-grain-mid.jpg"
fi
# Text: 30 lines of label: (ImageMagick 6.9's caption: refuses long texts here).
labels=()
for i in $(seq 30); do
  labels+=("label:$i. The quick brown fox jumps over the lazy dog. 0123456789 Pack my box with five dozen liquor jugs")
done
font=(-font DejaVu-Sans)
[ -e "$work/photo-plasma.jpg" ] ||
  "$im" -size 4000x3000 -seed 11 plasma:fractal -blur 0x1.5 -attenuate 0.6 +noise Gaussian \
    -quality 95 "$work/photo-plasma.jpg"
[ -e "$work/photo-rose.jpg" ] ||
  "$im" rose: -resize '4000x3000!' -attenuate 0.5 +noise Gaussian -quality 95 "$work/photo-rose.jpg"
if [ ! -e "$work/screenshot.png" ]; then
  "$im" -background none -fill '#202124' "${font[@]}" -pointsize 30 "${labels[@]}" -append "$work/gen/block.png"
  "$im" -size 2880x1800 gradient:'#f4f6f9-#d9e0ea' "$work/gen/block.png" -geometry +120+160 -composite \
    \( -size 1000x700 -seed 5 plasma:fractal -attenuate 0.4 +noise Gaussian \) \
    -geometry +1800+1000 -composite "$work/screenshot.png"
fi
[ -e "$work/lineart-logo.png" ] ||
  "$im" logo: -filter Lanczos -resize '4000x3000!' "$work/lineart-logo.png"
if [ ! -e "$work/text-flat.png" ]; then
  "$im" -background none -fill white "${font[@]}" -pointsize 44 "${labels[@]}" -append "$work/gen/block2.png"
  "$im" -size 3000x2000 xc:'#1a73e8' "$work/gen/block2.png" -geometry +100+100 -composite "$work/text-flat.png"
fi
ls -l "$work"/*.jpg "$work"/*.png | grep -v '\.out\.' | awk '{ print $5, $9 }'
echo
"$bench" compare "$work"
