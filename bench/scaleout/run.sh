#!/usr/bin/env bash
# Scale-out benchmark: uploads/s and GET rps for
#   1. one node on embedded storage (SQLite + files),
#   2. one node on PostgreSQL + S3 (moto, or Garage with WXIMG_S3_SERVER=garage),
#   3. two nodes on the same PostgreSQL + S3,
# all on this machine in one run, so the numbers compare with each other (and only so).
#
#   cargo build --release -p wximg-cli -p wximg-bench
#   bench/scaleout/run.sh | tee bench/scaleout/last-run.txt
#   WXIMG_S3_SERVER=garage bench/scaleout/run.sh | tee bench/scaleout/last-run-garage.txt
#
# Needs: wrk (Debian `wrk`), python3, and what scripts/services.sh installs. Knobs:
# COUNT (uploads per scenario), CONC (upload clients), SIZE (bytes per picture),
# GET_SECS and GET_CONN (wrk), PROFILE=1 (perf profile of the PG+S3 node while uploading),
# PICTURE_CACHE_MB (passed to every node as --picture-cache-mb; 0 sends every GET to the
# store, which is what compares S3 servers; unset: the server's default cache).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WXIMG="$ROOT/target/release/wximg"
BENCH="$ROOT/target/release/wximg-bench"
COUNT=${COUNT:-2000}
CONC=${CONC:-16}
SIZE=${SIZE:-100000}
export GET_SECS=${GET_SECS:-10}
GET_CONN=${GET_CONN:-32}
PROFILE=${PROFILE:-1}
for tool in "$WXIMG" "$BENCH"; do
    [[ -x "$tool" ]] || { echo "build first: cargo build --release -p wximg-cli -p wximg-bench" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wximg-bench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$ROOT/scripts/services.sh" stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
eval "$("$ROOT/scripts/services.sh" start)"
# Which S3 server the pg+s3 scenarios use, in their names and CPU lines.
export S3="${WXIMG_TEST_S3_SERVER:-moto}"

# start_node NAME ARGS… : starts `wximg serve`, sets NODE_BASE and NODE_PID.
start_node() {
    local name=$1; shift
    local out="$WORK/$name.out"
    "$WXIMG" serve --listen 127.0.0.1:0 --public-url http://bench.test \
        ${PICTURE_CACHE_MB:+--picture-cache-mb "$PICTURE_CACHE_MB"} "$@" \
        >"$out" 2>"$WORK/$name.err" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    for _ in $(seq 1 100); do
        # The node's shell may not have opened $out yet: not an error under set -e.
        NODE_BASE=$(sed -n 's/^wximg listening on //p' "$out" 2>/dev/null || true)
        [[ -n "$NODE_BASE" ]] && return
        sleep 0.1
    done
    cat "$WORK/$name.err" >&2
    echo "node $name did not start" >&2
    exit 1
}

create_app() { # storage args… → "appid secret"
    "$WXIMG" app create --type official --json "$@" |
        python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["appid"], a["secret"])'
}

# One ~SIZE-byte PNG for the GET runs (stdlib only: noisy pixels, stored uncompressed-ish).
make_png() {
    python3 - "$1" "$SIZE" <<'PY'
import os, struct, sys, zlib
path, size = sys.argv[1], int(sys.argv[2])
w = 256; h = max(1, size // (w * 3))
raw = b"".join(b"\x00" + os.urandom(w * 3) for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b"")
open(path, "wb").write(png)
PY
}

# upload_one BASE APPID SECRET FILE → picture path
upload_one() {
    local token
    token=$(curl -sf "$1/cgi-bin/token?grant_type=client_credential&appid=$2&secret=$3" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -sf -F "media=@$4;filename=p.png" "$1/cgi-bin/media/uploadimg?access_token=$token" |
        python3 -c 'import json,sys; u=json.load(sys.stdin)["url"]; print(u.split("bench.test",1)[1].split("?")[0])'
}

# uploads NAME APPID SECRET BASE… : COUNT uploads split over the bases, CONC clients in all.
uploads() {
    local name=$1 appid=$2 secret=$3; shift 3
    local n=$# i=0 files=()
    for base in "$@"; do
        "$BENCH" upload --base "$base" --appid "$appid" --secret "$secret" \
            --concurrency $((CONC / n)) --count $((COUNT / n)) --size "$SIZE" \
            >"$WORK/$name.up.$i" &
        files+=("$WORK/$name.up.$i")
        i=$((i + 1))
    done
    wait_jobs "$@"
    python3 - "$name" "${files[@]}" <<'PY'
import json, sys
name, runs = sys.argv[1], [json.load(open(p)) for p in sys.argv[2:]]
count = sum(r["count"] for r in runs); secs = max(r["seconds"] for r in runs)
print(f"{name}: uploads {count / secs:8.1f}/s  ({count} x {runs[0]['size']} B, "
      f"{sum(r['concurrency'] for r in runs)} clients, {secs:.1f} s; "
      f"p50 {max(r['p50_ms'] for r in runs):.1f} ms, p99 {max(r['p99_ms'] for r in runs):.1f} ms; "
      f"failures {sum(r['failures'] for r in runs)})")
PY
}

# Waits for the background load generators (not the nodes).
wait_jobs() {
    local pid
    for pid in $(jobs -p); do
        if [[ " ${PIDS[*]} " != *" $pid "* ]]; then wait "$pid"; fi
    done
}

# cpu_ms PID… : CPU time (user+system, including waited-for children, e.g. PostgreSQL
# backends that have exited, plus live children) of the processes, in milliseconds.
cpu_ms() {
    python3 - "$@" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK"); total = 0
def stat(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    except OSError:
        return 0
for pid in sys.argv[1:]:
    if not pid: continue
    total += stat(pid)
    for child in os.popen(f"pgrep -P {pid}").read().split():
        total += stat(child)
print(total * 1000 // tick)
PY
}

# pg_stat NAME : transactions committed and rows inserted/fetched in the database so far.
pg_counters() {
    psql "$WXIMG_TEST_DATABASE_URL" -Atc \
        "SELECT xact_commit, tup_inserted, tup_fetched FROM pg_stat_database WHERE datname = current_database()" 2>/dev/null
}

# profiled_uploads NAME APPID SECRET NODE_PIDS BASE… : uploads, then CPU per upload of
# each process and PostgreSQL's commits per upload.
profiled_uploads() {
    local name=$1 appid=$2 secret=$3 nodes=$4; shift 4
    local n0 p0 m0 c0 n1 p1 m1 c1
    # shellcheck disable=SC2086 # $nodes is a list of PIDs
    n0=$(cpu_ms $nodes); p0=$(cpu_ms "${WXIMG_TEST_PG_PID:-}"); m0=$(cpu_ms "${WXIMG_TEST_S3_PID:-}")
    c0=$(pg_counters || true)
    uploads "$name" "$appid" "$secret" "$@"
    # PostgreSQL backends publish their counters within 10 s of going idle (PG 15).
    if [[ "$name" == pg* ]]; then sleep 11; fi
    # shellcheck disable=SC2086 # $nodes is a list of PIDs
    n1=$(cpu_ms $nodes); p1=$(cpu_ms "${WXIMG_TEST_PG_PID:-}"); m1=$(cpu_ms "${WXIMG_TEST_S3_PID:-}")
    c1=$(pg_counters || true)
    python3 - "$name" "$COUNT" "$n0" "$n1" "$p0" "$p1" "$m0" "$m1" "$c0" "$c1" <<'PY'
import sys
name, count = sys.argv[1], int(sys.argv[2])
n0, n1, p0, p1, m0, m1 = map(int, sys.argv[3:9])
line = (f"{name}: CPU per upload: wximg {(n1-n0)/count:.2f} ms, "
        f"postgres {(p1-p0)/count:.2f} ms, {__import__('os').environ['S3']} {(m1-m0)/count:.2f} ms")
c0, c1 = sys.argv[9], sys.argv[10]
if not name.startswith("pg"):
    line = f"{name}: CPU per upload: wximg {(n1-n0)/count:.2f} ms"
elif c0 and c1:
    a = list(map(int, c0.split("|"))); b = list(map(int, c1.split("|")))
    line += (f"; PostgreSQL per upload: {(b[0]-a[0])/count:.2f} commits, "
             f"{(b[1]-a[1])/count:.2f} rows inserted, {(b[2]-a[2])/count:.2f} rows fetched")
print(line)
PY
}

# profiled_gets NAME PATH NODE_PIDS BASE… : gets, then CPU per GET of each process.
profiled_gets() {
    local name=$1 path=$2 nodes=$3; shift 3
    local n0 p0 m0 n1 p1 m1 out
    # shellcheck disable=SC2086 # $nodes is a list of PIDs
    n0=$(cpu_ms $nodes); p0=$(cpu_ms "${WXIMG_TEST_PG_PID:-}"); m0=$(cpu_ms "${WXIMG_TEST_S3_PID:-}")
    out=$(gets "$name" "$path" "$@")
    echo "$out"
    # shellcheck disable=SC2086 # $nodes is a list of PIDs
    n1=$(cpu_ms $nodes); p1=$(cpu_ms "${WXIMG_TEST_PG_PID:-}"); m1=$(cpu_ms "${WXIMG_TEST_S3_PID:-}")
    python3 - "$name" "$out" "$n0" "$n1" "$p0" "$p1" "$m0" "$m1" <<'PY'
import re, sys
name, out = sys.argv[1], sys.argv[2]
n0, n1, p0, p1, m0, m1 = map(int, sys.argv[3:9])
count = float(re.search(r"GET\s+([\d.]+) rps", out).group(1)) * float(__import__("os").environ.get("GET_SECS", "10"))
line = f"{name}: CPU per GET: wximg {(n1-n0)/count:.3f} ms"
if name.startswith("pg"):
    line += f", postgres {(p1-p0)/count:.3f} ms, {__import__('os').environ['S3']} {(m1-m0)/count:.3f} ms"
print(line + f" (~{count:.0f} GETs)")
PY
}

# gets NAME PATH BASE… : wrk against each base at once, GET_CONN connections in all.
gets() {
    local name=$1 path=$2; shift 2
    local n=$# i=0 files=()
    for base in "$@"; do
        wrk -t1 -c$((GET_CONN / n)) -d"${GET_SECS}s" --latency "$base$path" >"$WORK/$name.get.$i" &
        files+=("$WORK/$name.get.$i")
        i=$((i + 1))
    done
    wait_jobs "$@"
    python3 - "$name" "${files[@]}" <<'PY'
import re, sys
name, paths = sys.argv[1], sys.argv[2:]
rps = 0.0; p50 = []; p99 = []; errors = 0
for p in paths:
    text = open(p).read()
    rps += float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50.append(re.search(r"50%\s+(\S+)", text).group(1)); p99.append(re.search(r"99%\s+(\S+)", text).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text); errors += int(m.group(1)) if m else 0
print(f"{name}: GET {rps:8.1f} rps  (p50 {'/'.join(p50)}, p99 {'/'.join(p99)}, non-2xx {errors})")
PY
}

if [[ "$S3" == garage ]]; then
    S3_VERSION=$("$("$ROOT/scripts/services.sh" install-garage)" --version)
else
    S3_VERSION="moto $("${XDG_CACHE_HOME:-$HOME/.cache}/wximg-ci/moto-venv/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p')"
fi
make_png "$WORK/get.png"
echo "# $(date -u +%FT%TZ)  $(nproc) cores; COUNT=$COUNT CONC=$CONC SIZE=$SIZE GET_SECS=$GET_SECS GET_CONN=$GET_CONN PICTURE_CACHE_MB=${PICTURE_CACHE_MB:-default}"
echo "# wximg $("$WXIMG" --version 2>/dev/null || true); $(psql --version 2>/dev/null || "$(dirname "$(readlink -f "$(command -v pg_ctl)")")/postgres" --version); $S3_VERSION"

# 1. Embedded.
DATA="$WORK/data"
read -r APPID SECRET < <(create_app --data "$DATA")
start_node embedded --data "$DATA"
profiled_uploads embedded "$APPID" "$SECRET" "$NODE_PID" "$NODE_BASE"
PIC=$(upload_one "$NODE_BASE" "$APPID" "$SECRET" "$WORK/get.png")
profiled_gets embedded "$PIC" "$NODE_PID" "$NODE_BASE"
kill "$NODE_PID"

# 2. One node on PostgreSQL + S3.
SCALE=(--database-url "$WXIMG_TEST_DATABASE_URL" --store "$WXIMG_TEST_STORE")
read -r APPID SECRET < <(create_app "${SCALE[@]}")
start_node pg1 "${SCALE[@]}"
A=$NODE_BASE A_PID=$NODE_PID
if [[ "$PROFILE" == 1 ]] && command -v perf >/dev/null; then
    perf record -F 499 -g -p "$A_PID" -o "$WORK/perf.data" -- sleep 8 >/dev/null 2>&1 &
    PERF=$!
fi
profiled_uploads "pg+$S3 1 node" "$APPID" "$SECRET" "$A_PID" "$A"
if [[ -n "${PERF:-}" ]]; then
    wait "$PERF" || true
    echo "## perf: where the PG+S3 node's CPU goes while uploading (top 25, self time)"
    perf report -i "$WORK/perf.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | head -25 | cut -c1-150 || true
    echo "## perf: by shared object"
    perf report -i "$WORK/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | head -10 || true
fi
PIC=$(upload_one "$A" "$APPID" "$SECRET" "$WORK/get.png")
profiled_gets "pg+$S3 1 node" "$PIC" "$A_PID" "$A"

# 3. Two nodes on the same PostgreSQL + S3.
start_node pg2 "${SCALE[@]}"
B=$NODE_BASE B_PID=$NODE_PID
profiled_uploads "pg+$S3 2 nodes" "$APPID" "$SECRET" "$A_PID $B_PID" "$A" "$B"
profiled_gets "pg+$S3 2 nodes" "$PIC" "$A_PID $B_PID" "$A" "$B"

echo "## PostgreSQL connections held by the two nodes at the end: $(psql "$WXIMG_TEST_DATABASE_URL" -Atc \
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()" 2>/dev/null)"
