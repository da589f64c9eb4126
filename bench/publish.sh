#!/usr/bin/env bash
# Publishing one article as a draft, side by side with the tools writers use instead.
#
#   bench/publish.sh            # prints a Markdown table for BENCHMARKS.md
#
# The same article — front matter, headings, a table, code, links, 20 pictures of mixed
# formats (JPEG photos, one over 1 MB, PNG screenshots, GIF, BMP, WebP) and a cover — is
# made into a draft on one local wximg by:
#   - `wximg publish ARTICLE --draft` (fresh token, picture cache and draft record);
#   - md2wechat (PyPI) and @wenyan-md/core (npm), unchanged, from the installs
#     scripts/sdk/run.sh caches under $XDG_CACHE_HOME/wximg-ci, their hard-coded
#     https://api.weixin.qq.com redirected to the same server at the HTTP layer
#     (bench/publish/*_run.*, as scripts/sdk/*_test.* do).
# Each gets an app of its own and a fresh copy of the article for every run; the figure
# is the best wall time of RUNS runs (default 3), start of the process to its exit. Then
# bench/publish/check.py reads each tool's last draft back (draft/get) and says what it
# holds. Needs ImageMagick (`convert`) for the pictures. WXIMG=path uses that binary
# instead of building the release one; KEEP=1 keeps the scratch directory.
# PASSING=1 keeps in the article only the 13 pictures that pass `uploadimg` as they are
# (the JPEG photos under 1 MB, the PNG screenshots): the same job for every tool, with no
# picture to convert or fit, which md2wechat and wenyan do not do.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/wximg-ci
PY=$CACHE/sdk-venv/bin/python
NODE_MODULES=$CACHE/sdk-node/node_modules
[ -x "$PY" ] && [ -d "$NODE_MODULES/@wenyan-md/core" ] || {
  echo "run scripts/sdk/run.sh once first: it installs md2wechat and wenyan under $CACHE" >&2
  exit 2
}
if [ -z "${WXIMG:-}" ]; then
  cargo build --release -q -p wximg-cli
  WXIMG=$PWD/target/release/wximg
fi
W=$WXIMG
source bench/lib.sh
make_work publish
# KEEP=1 keeps the scratch directory (the tools' logs, the article copies) for a look.
if [ -n "${KEEP:-}" ]; then trap stop_server EXIT; echo "# scratch: $work" >&2; fi

# --- the article -------------------------------------------------------------------------
src=$work/article
mkdir -p "$src"
n=0
pic() { # pic NAME CONVERT-ARGS…
  convert "${@:2}" "$src/$1"; n=$((n + 1))
}
for i in 1 2 3 4 5 6 7 8; do pic "photo$i.jpg" -size 1600x1067 -seed "$i" plasma:fractal -quality 90; done
pic big.jpg -size 4000x3000 -seed 9 plasma:fractal -quality 97
for i in 1 2 3 4 5; do
  pic "shot$i.png" -size 1200x800 xc:"#f4f6f8" -fill "#333" -pointsize 28 \
    -annotate +40+80 "Screenshot $i: settings, a list, some text" -fill "#07c160" -draw "rectangle 40,120 600,160"
done
for i in 1 2 3; do pic "anim$i.gif" -size 320x200 -seed "$((20 + i))" plasma:; done
pic diagram.bmp -size 640x400 xc:white -fill "#576b95" -draw "circle 320,200 320,80"
for i in 1 2; do pic "web$i.webp" -size 1200x800 -seed "$((30 + i))" plasma:fractal -quality 85; done
convert -size 900x500 -seed 40 plasma:fractal -quality 90 "$src/cover.jpg"
[ "$n" = 20 ] || { echo "made $n pictures, not 20" >&2; exit 1; }
{
  printf -- '---\ntitle: Side by side\nauthor: wximg\ndigest: One article, three tools\ncover: cover.jpg\n---\n\n'
  printf '# Side by side\n\nAn article with **bold**, *italics*, `inline code` and a [link](https://example.com/ref).\n\n'
  printf '## A table\n\n| tool | language |\n|---|---|\n| wximg | Rust |\n| md2wechat | Python |\n| wenyan | JavaScript |\n\n'
  printf '## Code\n\n```python\ndef fit(picture):\n    while too_big(picture):\n        picture = smaller(picture)\n    return picture\n```\n\n'
  printf '> A quote, and a list:\n\n- one\n- two\n\n## Pictures\n\n'
  if [ -n "${PASSING:-}" ]; then
    pictures="photo1.jpg photo2.jpg photo3.jpg photo4.jpg photo5.jpg photo6.jpg photo7.jpg photo8.jpg
              shot1.png shot2.png shot3.png shot4.png shot5.png"
  else
    pictures="photo1.jpg photo2.jpg photo3.jpg photo4.jpg photo5.jpg photo6.jpg photo7.jpg photo8.jpg
              big.jpg shot1.png shot2.png shot3.png shot4.png shot5.png anim1.gif anim2.gif anim3.gif
              diagram.bmp web1.webp web2.webp"
  fi
  for f in $pictures; do
    printf '![%s](%s)\n\n' "$f" "$f"
  done
} > "$src/post.md"

start_server "$W" "$work/data"
mkapp() { "$W" app create --type official --json --data "$work/data" | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["appid"], a["secret"])'; }
read -r OURS_ID OURS_SECRET < <(mkapp)
read -r MD_ID MD_SECRET < <(mkapp)
read -r WY_ID WY_SECRET < <(mkapp)

now() { date +%s.%N; }
best() { python3 -c 'import sys; print(min(float(x) for x in sys.argv[1:]))' "$@"; }
declare -A times last
for tool in wximg md2wechat wenyan; do
  runs=()
  for i in $(seq "$RUNS"); do
    d=$work/$tool-$i
    cp -r "$src" "$d"
    log=$work/$tool-$i.log
    t0=$(now)
    case $tool in
      wximg)
        WXIMG_BASE_URL=$BASE WXIMG_APPID=$OURS_ID WXIMG_SECRET=$OURS_SECRET \
          WXIMG_CACHE_DIR=$d/.tokens WXIMG_CONFIG=$d/none.toml \
          "$W" publish "$d/post.md" --draft --json >"$log" 2>&1 || true
        ;;
      md2wechat)
        (cd "$CACHE/sdk-venv" && PYTHONDONTWRITEBYTECODE=1 "$PY" "$OLDPWD/bench/publish/md2wechat_run.py" \
          "$BASE" "$MD_ID" "$MD_SECRET" "$d/post.md" "$d/cover.jpg") >"$log" 2>&1 || true
        ;;
      wenyan)
        node bench/publish/wenyan_run.mjs "$BASE" "$WY_ID" "$WY_SECRET" "$d/post.md" "$NODE_MODULES" "$d/.config" >"$log" 2>&1 || true
        ;;
    esac
    t1=$(now)
    # The draft's id, read from the log after the clock stopped (a python3 start, ~0.1 s,
    # was once counted in wximg's time).
    case $tool in
      wximg) id=$(python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1]) if x.startswith("{")]; print(l[-1].get("draft","") if l else "")' "$log") ;;
      *) id=$(sed -n 's/^MEDIA_ID=//p' "$log" | tail -1) ;;
    esac
    runs+=("$(python3 -c "print($t1 - $t0)")")
    last[$tool]=$id
    [ -n "$id" ] || echo "# $tool run $i made no draft; its output: $log" >&2
  done
  times[$tool]=$(best "${runs[@]}")
  echo "# $tool: ${runs[*]} s" >&2
done

faster=$(best "${times[md2wechat]}" "${times[wenyan]}")
echo "| tool | best wall time of $RUNS (s) | ratio to the faster of md2wechat and wenyan |"
echo "|---|---|---|"
for tool in wximg md2wechat wenyan; do
  python3 -c "import sys; print(f'| {sys.argv[1]} | {float(sys.argv[2]):.2f} | {float(sys.argv[2])/float(sys.argv[3]):.2f} |')" "$tool" "${times[$tool]}" "$faster"
done
echo
echo "What each draft holds (bench/publish/check.py on the last run's draft):"
echo
for tool in wximg md2wechat wenyan; do
  case $tool in wximg) a=$OURS_ID s=$OURS_SECRET;; md2wechat) a=$MD_ID s=$MD_SECRET;; wenyan) a=$WY_ID s=$WY_SECRET;; esac
  if [ -n "${last[$tool]}" ]; then
    printf -- '- %s: `%s`\n' "$tool" "$(python3 bench/publish/check.py "$BASE" "$a" "$s" "${last[$tool]}" "$(wc -w <<<"$pictures")")"
  else
    printf -- '- %s: no draft (see its log: %s)\n' "$tool" "$(tail -c 400 "$work/$tool-$RUNS.log" | tr '\n' ' ')"
  fi
done
