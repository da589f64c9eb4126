#!/usr/bin/env bash
# Start-up to ready on an empty data directory, and binary size, next to nginx starting
# on the same machine in the same run (the baseline of a server "up and answering").
#
#   bench/startup.sh          # RUNS=10 by default; median of each
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
cargo build --release -q -p wximg-cli
command -v nginx >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
W=$PWD/target/release/wximg
work=$(mktemp -d /var/tmp/wximg-startup.XXXXXX); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
python3 - "$W" "$work" "$RUNS" <<'PY'
import os, socket, statistics, subprocess, sys, time, urllib.request
w, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def wait_ready(url, t0, proc):
    while True:
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return time.perf_counter() - t0
        except Exception:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {proc.returncode}")
            time.sleep(0.001)
ours, theirs = [], []
for i in range(runs):
    data = os.path.join(work, f"data{i}"); port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([w, "serve", "--listen", f"127.0.0.1:{port}", "--data", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours.append(wait_ready(f"http://127.0.0.1:{port}/readyz", t0, p)); p.terminate(); p.wait()
    port = free_port(); conf = os.path.join(work, f"nginx{i}.conf")
    open(conf, "w").write(f"daemon off; worker_processes 1; pid {work}/n{i}.pid; error_log {work}/n{i}.err;\nevents {{}}\nhttp {{ access_log off; server {{ listen 127.0.0.1:{port}; location / {{ return 200 'ok'; }} }} }}\n")
    t0 = time.perf_counter()
    p = subprocess.Popen(["nginx", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs.append(wait_ready(f"http://127.0.0.1:{port}/", t0, p)); p.terminate(); p.wait()
o, t = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
size = os.path.getsize(w) / 1e6
print(f"| start-up to /readyz 200 on an empty data dir (median of {runs}) | wximg {o:.1f} ms | nginx to first 200: {t:.1f} ms | ratio {o/t:.1f} |")
print(f"| release binary size | {size:.1f} MB (with line tables for profiling; `strip` removes them) |")
PY
