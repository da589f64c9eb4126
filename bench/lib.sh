# shellcheck shell=bash
# Shared by the benchmark scripts that start wximg (`source bench/lib.sh` from the
# project root).
#
# Expects `$work` (a scratch directory: the caller's own, or one `make_work` makes) and,
# for `upload_run` and `fsync_run`, `$B` (the wximg-bench binary) to be set by the
# caller; sets `SPID`, `BASE`, `APPID` and `SECRET` while a server runs.

server_pid=
SPID=

# Runs a command pinned to one CPU when taskset exists.
pin() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }

# Starts a server pinned to CPU 0 on a data directory not used before, with one app.
#   start_server BINARY DATA_DIR [VAR=value ...]   (extra environment for the server)
start_server() {
  local bin=$1 data=$2 creds
  creds=$("$bin" app create --type official --json --data "$data")
  APPID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["appid"])' "$creds")
  SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"])' "$creds")
  exec 3< <(env "${@:3}" RUST_LOG=warn taskset -c 0 "$bin" serve --listen 127.0.0.1:0 --data "$data" 2>/dev/null)
  server_pid=$!
  read -r line <&3
  BASE=${line#wximg listening on }
  # The pid of the server itself (the process substitution's pid is the pin wrapper's or it).
  SPID=$(pgrep -n -f "serve --listen 127.0.0.1:0 --data $data")
}

stop_server() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
  wait "$server_pid" 2>/dev/null || true
  server_pid=; SPID=
}

# Makes the scratch directory `work` (/var/tmp/wximg-NAME.XXXXXX), removed on exit after
# a server that still runs is stopped.
#   make_work NAME
make_work() {
  work=$(mktemp -d "/var/tmp/wximg-$1.XXXXXX")
  trap remove_work EXIT
}
remove_work() { stop_server; rm -rf "$work"; }

# utime + stime of a process, in clock ticks (10 ms).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One upload run from CPU 1 against the running server, as the JSON line of
# `wximg-bench upload` plus `cpu_us_per_op`: the server's CPU per upload.
#   upload_run CONCURRENCY COUNT
upload_run() {
  local cpu0 cpu1 out
  cpu0=$(cpu_ticks "$SPID")
  out=$(pin 1 "$B" upload --base "$BASE" --appid "$APPID" --secret "$SECRET" --concurrency "$1" --count "$2" --size 100000)
  cpu1=$(cpu_ticks "$SPID")
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["cpu_us_per_op"]=(int(sys.argv[3])-int(sys.argv[2]))*1e4/r["count"]; print(json.dumps(r))' "$out" "$cpu0" "$cpu1"
}

# The baseline: N threads of write 100 KB + fsync + rename + directory fsync, on CPU 0.
#   fsync_run DIR CONCURRENCY COUNT
fsync_run() { pin 0 "$B" fsync-loop --dir "$1" --concurrency "$2" --count "$3" --size 100000; }

# The best of several JSON result lines (stdin), by `per_second`.
best() { python3 -c 'import json,sys; rs=[json.loads(l) for l in sys.stdin if l.strip()]; print(json.dumps(max(rs, key=lambda r: r["per_second"])))'; }
