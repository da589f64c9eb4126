#!/usr/bin/env bash
# The upload path without disk writes: the same 100 KB JPEG uploaded over and over, so
# content addressing skips the blob write and the row insert changes nothing. What is
# left is HTTP, multipart, the rules, BLAKE3, the token and quota reads and the hand-offs
# to the writer threads, measured as requests/s and server CPU per request.
#
#   bench/upload-same.sh        # SECS=4 CONN=16 by default
#
# The server runs pinned to CPU 0, wrk (Debian) to CPU 1. No baseline: a diagnostic for
# the profile in BENCHMARKS.md, not a goal.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-4}; CONN=${CONN:-16}
command -v wrk >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p wximg-cli -p wximg-bench
W=$PWD/target/release/wximg
B=$PWD/target/release/wximg-bench
source bench/lib.sh
make_work same

start_server "$W" "$work/data"
"$B" make-jpeg --size 100000 --out "$work/p.jpg"
# The multipart body, and a token (checked by one real upload first).
url=$(python3 - "$BASE" "$APPID" "$SECRET" "$work" <<'PY'
import json, sys, urllib.request
base, appid, secret, work = sys.argv[1:5]
tok = json.load(urllib.request.urlopen(f"{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"))["access_token"]
pic = open(f"{work}/p.jpg", "rb").read()
b = "wximgbench"
body = (f"--{b}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n").encode() + pic + f"\r\n--{b}--\r\n".encode()
open(f"{work}/body", "wb").write(body)
url = f"{base}/cgi-bin/media/uploadimg?access_token={tok}"
req = urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={b}"})
assert json.load(urllib.request.urlopen(req))["errcode"] == 0
print(url)
PY
)
cat > "$work/post.lua" <<LUA
local f = io.open("$work/body", "rb")
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "multipart/form-data; boundary=wximgbench"
LUA
c0=$(cpu_ticks "$SPID"); s0=$(awk '/^ctxt/ {print $2}' /proc/stat)
rps=$(pin 1 wrk -t1 -c"$CONN" -d"${SECS}s" -s "$work/post.lua" "$url" | awk '/Requests\/sec/ {print $2}')
c1=$(cpu_ticks "$SPID"); s1=$(awk '/^ctxt/ {print $2}' /proc/stat)
python3 -c 'import sys; rps, secs, c0, c1, s0, s1 = map(float, sys.argv[1:7]); n = rps * secs
print(f"same picture again, {int(secs)} s, wrk -c{sys.argv[7]}: {rps:.0f} requests/s, server CPU {(c1 - c0) * 1e4 / n:.0f} µs per request, {(s1 - s0) / n:.1f} context switches per request (whole machine)")' \
  "$rps" "$SECS" "$c0" "$c1" "$s0" "$s1" "$CONN"
