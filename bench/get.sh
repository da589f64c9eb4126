#!/usr/bin/env bash
# GET of a 100 KB picture: wximg vs nginx serving the same file from disk with sendfile.
#
#   bench/get.sh            # prints a Markdown row for BENCHMARKS.md
#
# Same machine, same run: each server runs pinned to CPU 0 with one worker thread /
# process; wrk (Debian) runs pinned to CPU 1. Best of RUNS runs (default 3) of SECS seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}; SECS=${SECS:-8}; CONN=${CONN:-32}
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null; }
done
cargo build --release -q -p wximg-cli -p wximg-bench
W=$PWD/target/release/wximg
B=$PWD/target/release/wximg-bench
work=$(mktemp -d /var/tmp/wximg-get.XXXXXX)
chmod 755 "$work"  # nginx workers run as an unprivileged user
source bench/lib.sh
pids=()
# nginx is started through `pin` (a function, so `$!` is a subshell): stop it by its pid file.
cleanup() { stop_server; { [ -s "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")"; } 2>/dev/null || true; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wximg, one worker thread, with one 100 KB JPEG uploaded.
start_server "$W" "$work/data" TOKIO_WORKER_THREADS=1
mkdir -p "$work/www"
"$B" make-jpeg --size 100000 --out "$work/www/p.jpg"
python3 - "$BASE" "$APPID" "$SECRET" "$work" <<'PY'
import json, sys, urllib.request, uuid, os
base, appid, secret, work = sys.argv[1:5]
tok = json.load(urllib.request.urlopen(f"{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"))["access_token"]
body = open(os.path.join(work, "www", "p.jpg"), "rb").read()
b = uuid.uuid4().hex
form = f"--{b}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\n\r\n".encode() + body + f"\r\n--{b}--\r\n".encode()
req = urllib.request.Request(f"{base}/cgi-bin/media/uploadimg?access_token={tok}", data=form, headers={"Content-Type": f"multipart/form-data; boundary={b}"})
ans = json.load(urllib.request.urlopen(req)); assert ans["errcode"] == 0, ans
open(os.path.join(work, "url"), "w").write(ans["url"].split("?")[0])
PY
url=$(cat "$work/url")

# nginx, one worker process, sendfile, the same bytes.
nport=$(free_port)
cat > "$work/nginx.conf" <<NGX
daemon off; worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 100000;
  server { listen 127.0.0.1:$nport; root $work/www; } }
NGX
pin 0 nginx -c "$work/nginx.conf" & pids+=($!)
sleep 0.5
curl -sS "$url" -o "$work/got.jpg"; cmp "$work/got.jpg" "$work/www/p.jpg"
curl -sS "http://127.0.0.1:$nport/p.jpg" -o "$work/got2.jpg"; cmp "$work/got2.jpg" "$work/www/p.jpg"

rps() { pin 1 wrk -t1 -c"$CONN" -d"${SECS}s" --latency "$1" | awk '/Requests\/sec/ {print $2}'; }
highest() { sort -g | tail -1; }
ours=$(for _ in $(seq "$RUNS"); do rps "$url"; done | highest)
theirs=$(for _ in $(seq "$RUNS"); do rps "http://127.0.0.1:$nport/p.jpg"; done | highest)
python3 -c "import sys; o,t=float(sys.argv[1]),float(sys.argv[2]); print(f'| GET 100 KB, {sys.argv[3]} connections | nginx {t:,.0f} req/s | wximg {o:,.0f} req/s | ratio {o/t:.2f} (goal ≥ 0.9) |')" "$ours" "$theirs" "$CONN"
