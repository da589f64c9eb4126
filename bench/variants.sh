#!/usr/bin/env bash
# Width variants of a 12 MP JPEG: wximg's `/640` vs nginx's own resizer (Debian
# libnginx-mod-http-image-filter, `image_filter resize 640 -`), same picture, same run.
#
#   bench/variants.sh        # prints the Markdown rows for BENCHMARKS.md
#
# 1. First request of a variant: wximg resizes once per (picture, width); nginx's filter
#    resizes on every request, so its per-request time is its cost. Median of N pictures
#    (the same 12 MP pixels, each made distinct by a COM segment so each is a cold
#    variant), one request at a time, curl's time_total.
# 2. Hot variant: `wrk` on wximg's cached `/640` vs nginx serving the same bytes as a
#    static file with sendfile (the baseline `/0` is measured against in bench/get.sh),
#    and nginx's filter under the same load for reference.
# 3. Peak RSS (VmHWM) of a fresh wximg while 64 clients ask for 64 different cold
#    variants at once (22 pictures × 300/640/1080), with the default resize bounds.
# Servers pinned to CPU 0 (wximg with one tokio worker, nginx one worker process),
# clients to CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-9}; SECS=${SECS:-8}; CONN=${CONN:-32}; RUNS=${RUNS:-3}
need() { command -v "$1" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk; need nginx nginx; need curl curl
[ -e /usr/lib/nginx/modules/ngx_http_image_filter_module.so ] ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnginx-mod-http-image-filter >/dev/null
# ImageMagick 6 (Debian) makes the picture: /usr/bin/convert, whatever else is on PATH.
[ -x /usr/bin/convert ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq imagemagick >/dev/null
T=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p wximg-cli
W=$T/release/wximg
work=$(mktemp -d /var/tmp/wximg-variants.XXXXXX)
chmod 755 "$work"
source bench/lib.sh
pids=()
# nginx is started through `pin` (a function, so `$!` is a subshell): stop it by its pid file.
cleanup() { stop_server; { [ -s "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")"; } 2>/dev/null || true; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The 12 MP photo-like JPEG (4000 × 3000, quality 85), and distinct copies of it.
mkdir -p "$work/www" "$work/pics"
/usr/bin/convert -size 4000x3000 plasma:fractal -seed 7 -blur 0x1 -quality 85 "$work/www/p.jpg"
python3 - "$work" 32 <<'PY'
import sys, os
work, n = sys.argv[1], int(sys.argv[2])
src = open(os.path.join(work, "www", "p.jpg"), "rb").read()
for i in range(n):
    tag = f"wximg-bench variant {i:04}".encode()
    seg = b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag
    open(os.path.join(work, "pics", f"{i}.jpg"), "wb").write(src[:2] + seg + src[2:])
PY
size=$(stat -c %s "$work/www/p.jpg")

# Uploads pictures 0..COUNT-1 as image materials (12 MP is above uploadimg's 1 MB) and
# writes their URL bases (…/mmbiz_jpg/<id>/) to $work/urls.
upload_all() {
  python3 - "$BASE" "$APPID" "$SECRET" "$work" "$1" <<'PY'
import json, sys, urllib.request, uuid, os
base, appid, secret, work, count = sys.argv[1:6]
tok = json.load(urllib.request.urlopen(f"{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"))["access_token"]
urls = []
for i in range(int(count)):
    body = open(os.path.join(work, "pics", f"{i}.jpg"), "rb").read()
    b = uuid.uuid4().hex
    form = f"--{b}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"p{i}.jpg\"\r\n\r\n".encode() + body + f"\r\n--{b}--\r\n".encode()
    req = urllib.request.Request(f"{base}/cgi-bin/material/add_material?access_token={tok}&type=image", data=form, headers={"Content-Type": f"multipart/form-data; boundary={b}"})
    ans = json.load(urllib.request.urlopen(req)); assert "url" in ans, ans
    urls.append(ans["url"].split("?")[0].rsplit("/", 1)[0] + "/")
open(os.path.join(work, "urls"), "w").write("\n".join(urls) + "\n")
PY
}

# nginx: the filter on /resize/, the same bytes as static files on /static/.
nport=$(free_port)
cat > "$work/nginx.conf" <<NGX
load_module /usr/lib/nginx/modules/ngx_http_image_filter_module.so;
daemon off; worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 100000;
  server { listen 127.0.0.1:$nport;
    location /resize/ { alias $work/www/; image_filter resize 640 -; image_filter_buffer 20M; image_filter_jpeg_quality 82; }
    location /static/ { alias $work/www/; } } }
NGX
pin 0 nginx -c "$work/nginx.conf" & pids+=($!)
npid=$!
sleep 0.5

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { pin 1 curl -sS -o "${2:-/dev/null}" -w '%{time_total}\n' "$1" | awk '{printf "%.1f\n", $1*1000}'; }

# 1. First requests.
start_server "$W" "$work/data" TOKIO_WORKER_THREADS=1
upload_all "$N"
ours_first=$(while read -r u; do ms "${u}640?wx_fmt=jpeg"; done < "$work/urls" | median)
first_url=$(head -1 "$work/urls")
ms "${first_url}640?wx_fmt=jpeg" "$work/ours640.jpg" >/dev/null
theirs_first=$(for _ in $(seq "$N"); do ms "http://127.0.0.1:$nport/resize/p.jpg" "$work/theirs640.jpg"; done | median)
ours_webp=$(while read -r u; do ms "${u}640?wx_fmt=jpeg&tp=webp"; done < "$work/urls" | median)
python3 - "$work/ours640.jpg" "$work/theirs640.jpg" > "$work/dims" <<'PY'
import sys, struct
def dims(p):
    b = open(p, "rb").read(); i = 2
    while i < len(b):
        m, l = b[i+1], struct.unpack(">H", b[i+2:i+4])[0]
        if m in (0xC0, 0xC1, 0xC2): h, w = struct.unpack(">HH", b[i+5:i+9]); return f"{w}×{h}, {len(b)//1024} KB"
        i += 2 + l
for p in sys.argv[1:]: print(dims(p))
PY

# 2. Hot: wximg's cached /640 vs the same bytes as nginx's static file.
cp "$work/ours640.jpg" "$work/www/v640.jpg"
rps() { pin 1 wrk -t1 -c"$CONN" -d"${SECS}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
highest() { sort -g | tail -1; }
filter_hot=$(SECS=4 rps "http://127.0.0.1:$nport/resize/p.jpg")
# Like for like: the variant's bytes uploaded as a picture of their own, served as `/0`.
zero_url=$(python3 - "$BASE" "$APPID" "$SECRET" "$work/ours640.jpg" <<'PY'
import json, sys, urllib.request, uuid
base, appid, secret, path = sys.argv[1:5]
tok = json.load(urllib.request.urlopen(f"{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"))["access_token"]
body = open(path, "rb").read(); b = uuid.uuid4().hex
form = f"--{b}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"v.jpg\"\r\n\r\n".encode() + body + f"\r\n--{b}--\r\n".encode()
req = urllib.request.Request(f"{base}/cgi-bin/media/uploadimg?access_token={tok}", data=form, headers={"Content-Type": f"multipart/form-data; boundary={b}"})
print(json.load(urllib.request.urlopen(req))["url"])
PY
)
curl -sS -o /dev/null "$zero_url"; sleep 0.3
# Interleaved runs (the machine is shared: load comes and goes), the best of each.
: > "$work/hot"
for _ in $(seq "$RUNS"); do
  echo "ours $(rps "${first_url}640?wx_fmt=jpeg")" >> "$work/hot"
  echo "static $(rps "http://127.0.0.1:$nport/static/v640.jpg")" >> "$work/hot"
  echo "zero $(rps "$zero_url")" >> "$work/hot"
done
best_of() { awk -v k="$1" '$1 == k {print $2}' "$work/hot" | highest; }
ours_hot=$(best_of ours); static_hot=$(best_of static); zero_hot=$(best_of zero)
ours_rss_after_hot=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status")
stop_server

# 3. Peak RSS of a fresh server: 64 cold variants at once.
start_server "$W" "$work/data64" TOKIO_WORKER_THREADS=1
upload_all 22
base_rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status")
t0=$(date +%s.%N)
while read -r u; do for w in 300 640 1080; do echo "${u}${w}?wx_fmt=jpeg"; done; done < "$work/urls" | head -64 |
  pin 1 xargs -P64 -n1 curl -sS -o /dev/null -w '%{http_code}\n' > "$work/codes"
t1=$(date +%s.%N)
[ "$(grep -c '^200$' "$work/codes")" = 64 ] || { echo "not every variant answered 200:" >&2; sort "$work/codes" | uniq -c >&2; exit 1; }
peak_rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status")
stop_server
# nginx's worker while 64 clients ask its filter at once (for reference).
nworker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
seq 64 | pin 1 xargs -P64 -I{} curl -sS -o /dev/null "http://127.0.0.1:$nport/resize/p.jpg?{}"
nginx_rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$nworker/status")

python3 - "$size" "$ours_first" "$theirs_first" "$ours_webp" "$ours_hot" "$static_hot" "$filter_hot" "$base_rss" "$peak_rss" "$t0" "$t1" "$nginx_rss" "$CONN" "$N" "$ours_rss_after_hot" "$work/dims" "$zero_hot" <<'PY'
import sys
a = sys.argv[1:]
size, of, tf, ow, oh, sh, fh = int(a[0]), float(a[1]), float(a[2]), float(a[3]), float(a[4]), float(a[5]), float(a[6])
base_rss, peak_rss, t0, t1, nginx_rss, conn, n, hot_rss = int(a[7]), int(a[8]), float(a[9]), float(a[10]), int(a[11]), a[12], a[13], a[14]
ours_dims, theirs_dims = open(a[15]).read().split("\n")[:2]
zh = float(a[16])
print(f"Picture: 4000×3000 JPEG, {size/1e6:.2f} MB (ImageMagick plasma, q85). Variant /640: wximg {ours_dims}; nginx {theirs_dims}.")
print()
print("| | nginx image_filter | wximg | ratio | goal |")
print("|---|---|---|---|---|")
print(f"| first request of a 640 variant (median of {n}, ms) | {tf:.1f} (every request) | {of:.1f} | {of/tf:.2f}× nginx's time | ≤ 1 |")
print(f"| first request, `tp=webp` (lossless, ms) | — | {ow:.1f} | {ow/tf:.2f}× | |")
print(f"| hot 640 variant, {conn} connections (req/s) | static file {sh:,.0f}; filter {fh:,.0f} | {oh:,.0f} | {oh/sh:.2f} of static | ≥ 0.9 |")
print(f"| the same bytes as wximg `/0` (req/s) | | {zh:,.0f} | {zh/sh:.2f} of static | |")
print(f"| peak RSS, 64 cold variants at once (MB) | one worker: {nginx_rss} | {peak_rss} (idle after uploads: {base_rss}; 64 answered in {t1-t0:.2f} s) | | ≤ 256 |")
PY
