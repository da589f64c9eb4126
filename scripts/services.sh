#!/usr/bin/env bash
# Real backing services for the scale-out tests: a PostgreSQL cluster and an S3-compatible
# server, both on loopback, on random free ports, in a temp directory.
#
#   eval "$(scripts/services.sh start)"; trap 'scripts/services.sh stop' EXIT
#   eval "$(WXIMG_S3_SERVER=garage scripts/services.sh start)"     # Garage instead of moto
#
# The S3 server is `WXIMG_S3_SERVER`: `moto` (the default; a mock of AWS from PyPI, starts
# in a second, enforces `If-None-Match: *`) or `garage` (a production S3 engine, crates.io;
# single node, replication_factor 1; ignores `If-None-Match: *`). Garage is AGPL: it runs
# as a separate process here and nothing of it is linked into wximg.
#
# `start` installs what is missing (Debian `postgresql` when `initdb`/`pg_ctl` are absent;
# `moto[server]` from PyPI into a venv cached under ${XDG_CACHE_HOME:-~/.cache}/wximg-ci/;
# for garage, `cargo install garage` into the same cache: the FIRST BUILD TAKES ABOUT 15
# MINUTES on two cores, later starts reuse the binary while its version matches),
# starts both, creates a bucket and prints `export …` lines on stdout (progress goes to
# stderr):
#   WXIMG_SERVICES_DIR        the temp directory (data, logs, PIDs; `stop` removes it)
#   WXIMG_TEST_DATABASE_URL   postgres://wximg:PASSWORD@127.0.0.1:PORT/wximg
#   WXIMG_TEST_STORE          s3://wximg-test?endpoint=http://127.0.0.1:PORT&region=REGION
#                             (region us-east-1 on moto, garage on Garage)
#   AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION
#   WXIMG_TEST_S3_SERVER      moto | garage
#   WXIMG_TEST_PG_PID WXIMG_TEST_S3_PID
#
# Other commands act on the services of $WXIMG_SERVICES_DIR (default: the last started):
#   stop                 stop both, remove the directory
#   pg-stop | pg-start   stop / restart PostgreSQL on the same port and data (outage tests)
#   s3-stop | s3-start   kill / restart the S3 server on the same port (moto keeps objects
#                        in memory: they are gone after a restart and the bucket is
#                        recreated; Garage keeps its data, key and bucket on disk)
#   env                  print the export lines again
#   install-garage       build Garage into the cache if it is not there (what `start`
#                        does for WXIMG_S3_SERVER=garage), print the binary's path
#
# PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user
# (created by Debian's package), otherwise as the calling user. Nothing listens beyond
# 127.0.0.1.
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wximg-ci"
MOTO_VENV="$CACHE/moto-venv"
MOTO_SPEC="${WXIMG_MOTO_SPEC:-moto[server]>=5,<6}"
LAST="${TMPDIR:-/tmp}/wximg-services.last"
BUCKET=wximg-test
# Garage: exactly this version from crates.io, built once per machine into the cache.
GARAGE_VERSION="${WXIMG_GARAGE_VERSION:-2.5.0}"
GARAGE_ROOT="$CACHE/garage"
GARAGE_BIN="$GARAGE_ROOT/bin/garage"

log() { echo "services.sh: $*" >&2; }
die() { log "$*"; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pg_bin() {
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        # Follow symlinks (e.g. /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin) to
        # the directory that also holds createdb.
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    local d
    # shellcheck disable=SC2012 # version directories: plain names
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
    if [[ -n "$d" && -x "$d/pg_ctl" && -x "$d/initdb" ]]; then
        echo "$d"
    fi
}

install_postgres() {
    if [[ -n "$(pg_bin)" ]]; then return; fi
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL (initdb, pg_ctl) is missing: install Debian's postgresql"
    log "installing PostgreSQL (apt-get install postgresql)…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # policy-rc.d 101: do not start Debian's default cluster; we run our own.
    local policy=/usr/sbin/policy-rc.d created_policy=
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    apt-get install -y -qq postgresql >&2
    [[ -n "$created_policy" ]] && rm -f "$policy"
    [[ -n "$(pg_bin)" ]] || die "postgresql installed but pg_ctl/initdb not found"
}

install_moto() {
    if [[ -x "$MOTO_VENV/bin/moto_server" ]]; then return; fi
    log "installing $MOTO_SPEC into $MOTO_VENV…"
    mkdir -p "$CACHE"
    python3 -m venv "$MOTO_VENV" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$MOTO_VENV/bin/pip" install -q --disable-pip-version-check "$MOTO_SPEC" >&2
}

garage_version_ok() {
    [[ -x "$GARAGE_BIN" ]] || return 1
    # `garage --version` prints "garage cargo:2.5.0 [features: …]" for a crates.io build
    # ("garage v2.5.0 …" for one from git).
    local v
    v=$("$GARAGE_BIN" --version 2>/dev/null) || return 1
    [[ "$v " == "garage cargo:$GARAGE_VERSION "* || "$v " == "garage v$GARAGE_VERSION "* ]]
}

# Builds Garage from crates.io into the cache once per machine (cargo install; ~15 min on
# two cores the first time). Under a lock, so tests starting services in parallel build it
# once; the build directory is removed afterwards (several GB), the binary kept.
install_garage() {
    if garage_version_ok; then return; fi
    command -v cargo >/dev/null || die "cargo is needed to build Garage"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/garage.lock"
    flock 9
    if ! garage_version_ok; then
        log "building Garage $GARAGE_VERSION from crates.io into $GARAGE_ROOT (first time only:"
        log "  about 10-15 minutes on two idle cores, longer on a busy machine; log in $CACHE/garage-build.log)…"
        local build="$CACHE/garage-build" started=$SECONDS
        # CARGO_TARGET_DIR of the caller (the project's) must not receive Garage's build.
        if ! CARGO_TARGET_DIR="$build" cargo install --locked --force garage \
            --version "=$GARAGE_VERSION" --root "$GARAGE_ROOT" >"$CACHE/garage-build.log" 2>&1; then
            tail -n 30 "$CACHE/garage-build.log" >&2
            die "building Garage failed (full log: $CACHE/garage-build.log)"
        fi
        rm -rf "$build"
        garage_version_ok || die "built Garage, but $GARAGE_BIN --version is not $GARAGE_VERSION"
        log "Garage built in $((SECONDS - started)) s"
    fi
    flock -u 9
    exec 9>&-
}

# Runs a command as the cluster's owner.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

pg_owner() {
    if [[ $(id -u) -ne 0 ]]; then id -un; return; fi
    if id postgres >/dev/null 2>&1; then echo postgres; return; fi
    useradd --system --no-create-home --shell /usr/sbin/nologin wximg-pg 2>/dev/null || true
    echo wximg-pg
}

load_state() {
    DIR="${WXIMG_SERVICES_DIR:-}"
    if [[ -z "$DIR" && -f "$LAST" ]]; then DIR=$(cat "$LAST"); fi
    [[ -n "$DIR" && -f "$DIR/state" ]] || die "no services started (no WXIMG_SERVICES_DIR, no $LAST)"
    # shellcheck disable=SC1091
    source "$DIR/state"
    S3_SERVER=${S3_SERVER:-moto}
}

print_env() {
    local region=us-east-1 key=wximg-test secret=wximg-test-secret
    if [[ "$S3_SERVER" == garage ]]; then
        region=garage key=$GARAGE_KEY_ID secret=$GARAGE_SECRET
    fi
    cat <<EOT
export WXIMG_SERVICES_DIR='$DIR'
export WXIMG_TEST_DATABASE_URL='postgres://wximg:$PG_PASSWORD@127.0.0.1:$PG_PORT/wximg'
export WXIMG_TEST_STORE='s3://$BUCKET?endpoint=http://127.0.0.1:$S3_PORT&region=$region'
export AWS_ACCESS_KEY_ID='$key' AWS_SECRET_ACCESS_KEY='$secret' AWS_REGION='$region'
export WXIMG_TEST_S3_SERVER='$S3_SERVER'
export WXIMG_TEST_PG_PID='$(pg_pid)' WXIMG_TEST_S3_PID='$(s3_pid)'
EOT
}

pg_pid() { head -n1 "$DIR/pg/data/postmaster.pid" 2>/dev/null || true; }
s3_pid() { cat "$DIR/s3.pid" 2>/dev/null || true; }

pg_start() {
    as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/log" -w -t 60 start >/dev/null \
        || { cat "$DIR/pg/log" >&2; die "PostgreSQL did not start"; }
}

pg_stop() {
    if [[ -f "$DIR/pg/data/postmaster.pid" ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -m fast -w -t 60 stop >/dev/null || true
    fi
}

s3_start() {
    case "$S3_SERVER" in
        moto) moto_start ;;
        garage) garage_start ;;
    esac
}

moto_start() {
    # setsid: its own session, so the caller's Ctrl-C or job control leaves it alone and
    # `stop` ends exactly this process.
    setsid "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >>"$DIR/s3.log" 2>&1 </dev/null &
    echo $! >"$DIR/s3.pid"
    for _ in $(seq 1 150); do
        if python3 - "$S3_PORT" "$BUCKET" <<'PY' 2>/dev/null; then return; fi
import sys, urllib.request
port, bucket = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/{bucket}", method="PUT")
urllib.request.urlopen(req, timeout=1).read()
PY
        kill -0 "$(s3_pid)" 2>/dev/null || { cat "$DIR/s3.log" >&2; die "moto_server exited"; }
        sleep 0.1
    done
    cat "$DIR/s3.log" >&2
    die "moto_server did not answer on 127.0.0.1:$S3_PORT"
}

garage() { "$GARAGE_BIN" -c "$DIR/garage/garage.toml" "$@"; }

# A single Garage node: config, then (first start only) layout, key and bucket. Its
# metadata and data live under $DIR/garage, so a restart keeps objects, key and bucket.
garage_start() {
    local g="$DIR/garage" first=
    if [[ ! -f "$g/garage.toml" ]]; then
        first=1
        mkdir -p "$g/meta" "$g/data"
        # fsync on: with one node and replication_factor 1 the disk is the only
        # redundancy, and the embedded store it is compared with fsyncs too.
        cat >"$g/garage.toml" <<EOT
metadata_dir = "$g/meta"
data_dir = "$g/data"
db_engine = "lmdb"
metadata_fsync = true
data_fsync = true
replication_factor = 1
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:$GARAGE_RPC_PORT"
rpc_public_addr = "127.0.0.1:$GARAGE_RPC_PORT"
rpc_secret = "$GARAGE_RPC_SECRET"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$GARAGE_ADMIN_PORT"
admin_token = "$GARAGE_ADMIN_TOKEN"
EOT
        chmod 600 "$g/garage.toml"
    fi
    # setsid: as for moto. RUST_LOG keeps its log to warnings and errors.
    RUST_LOG="${WXIMG_GARAGE_LOG:-garage=warn}" setsid "$GARAGE_BIN" -c "$g/garage.toml" server \
        >>"$DIR/s3.log" 2>&1 </dev/null &
    echo $! >"$DIR/s3.pid"
    local ok=
    for _ in $(seq 1 300); do
        if garage status >/dev/null 2>&1; then ok=1; break; fi
        kill -0 "$(s3_pid)" 2>/dev/null || { cat "$DIR/s3.log" >&2; die "garage exited"; }
        sleep 0.1
    done
    [[ -n "$ok" ]] || { cat "$DIR/s3.log" >&2; die "garage did not answer on RPC 127.0.0.1:$GARAGE_RPC_PORT"; }
    if [[ -n "$first" ]]; then
        local node
        node=$(garage node id -q 2>>"$DIR/s3.log") || die "garage node id failed (see $DIR/s3.log)"
        node=${node%%@*}
        {
            garage layout assign -z dc1 -c 1G "$node" &&
                garage layout apply --version 1 &&
                garage key import --yes -n wximg-test "$GARAGE_KEY_ID" "$GARAGE_SECRET" &&
                garage bucket create "$BUCKET" &&
                garage bucket allow --read --write --owner "$BUCKET" --key wximg-test
        } >>"$DIR/garage/setup.log" 2>&1 || { cat "$DIR/garage/setup.log" >&2; die "garage setup failed"; }
    fi
    # The S3 API answers (403 to an unsigned request) once the node serves the layout.
    for _ in $(seq 1 300); do
        if python3 - "$S3_PORT" "$BUCKET" <<'PY' 2>/dev/null; then return; fi
import sys, urllib.error, urllib.request
port, bucket = sys.argv[1], sys.argv[2]
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/{bucket}", timeout=1).read()
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 403 else 1)
PY
        kill -0 "$(s3_pid)" 2>/dev/null || { cat "$DIR/s3.log" >&2; die "garage exited"; }
        sleep 0.1
    done
    cat "$DIR/s3.log" >&2
    die "garage's S3 API did not answer on 127.0.0.1:$S3_PORT"
}

s3_stop() {
    local pid
    pid=$(s3_pid)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/s3.pid"
}

undo_failed_start() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        s3_stop
        pg_stop
        rm -rf "$DIR"
        rm -f "$LAST"
    fi
}

start() {
    S3_SERVER="${WXIMG_S3_SERVER:-moto}"
    case "$S3_SERVER" in
        moto) install_moto ;;
        garage) install_garage ;;
        *) die "WXIMG_S3_SERVER must be moto or garage, not '$S3_SERVER'" ;;
    esac
    install_postgres
    PG_BIN=$(pg_bin)
    PG_USER=$(pg_owner)
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/wximg-services.XXXXXX")
    chmod 755 "$DIR"
    # A failure half-way leaves nothing running and nothing behind.
    trap undo_failed_start EXIT
    PG_PORT=$(free_port)
    S3_PORT=$(free_port)
    while [[ "$S3_PORT" == "$PG_PORT" ]]; do S3_PORT=$(free_port); done
    PG_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    cat >"$DIR/state" <<EOT
PG_BIN='$PG_BIN'
PG_USER='$PG_USER'
PG_PORT='$PG_PORT'
PG_PASSWORD='$PG_PASSWORD'
S3_PORT='$S3_PORT'
S3_SERVER='$S3_SERVER'
EOT
    if [[ "$S3_SERVER" == garage ]]; then
        local used=" $PG_PORT $S3_PORT " port
        for var in GARAGE_RPC_PORT GARAGE_ADMIN_PORT; do
            port=$(free_port)
            while [[ "$used" == *" $port "* ]]; do port=$(free_port); done
            used+="$port "
            echo "$var='$port'" >>"$DIR/state"
        done
        # Garage's key format: "GK" + 24 hex digits, and a 64-hex-digit secret.
        python3 -c 'import secrets; print(f"GARAGE_KEY_ID=GK{secrets.token_hex(12)}")
print(f"GARAGE_SECRET={secrets.token_hex(32)}")
print(f"GARAGE_RPC_SECRET={secrets.token_hex(32)}")
print(f"GARAGE_ADMIN_TOKEN={secrets.token_hex(32)}")' >>"$DIR/state"
        # shellcheck disable=SC1091
        source "$DIR/state"
    fi
    chmod 600 "$DIR/state"
    echo "$DIR" >"$LAST"

    log "PostgreSQL ($PG_BIN) as $PG_USER on 127.0.0.1:$PG_PORT in $DIR/pg"
    mkdir -p "$DIR/pg"
    printf '%s\n' "$PG_PASSWORD" >"$DIR/pg/pwfile"
    chown -R "$PG_USER" "$DIR/pg" 2>/dev/null || true
    as_pg "$PG_BIN/initdb" -D "$DIR/pg/data" -U wximg --pwfile="$DIR/pg/pwfile" \
        --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$DIR/pg/initdb.log" 2>&1 || { cat "$DIR/pg/initdb.log" >&2; die "initdb failed"; }
    rm -f "$DIR/pg/pwfile"
    cat >>"$DIR/pg/data/postgresql.conf" <<EOT
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR/pg'
max_connections = 200
EOT
    pg_start
    as_pg env PGPASSWORD="$PG_PASSWORD" \
        "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U wximg wximg \
        || die "createdb failed"

    if [[ "$S3_SERVER" == garage ]]; then
        log "garage $GARAGE_VERSION on 127.0.0.1:$S3_PORT (RPC $GARAGE_RPC_PORT, admin $GARAGE_ADMIN_PORT), bucket $BUCKET"
    else
        log "moto_server on 127.0.0.1:$S3_PORT, bucket $BUCKET"
    fi
    s3_start
    print_env
}

stop() {
    load_state
    s3_stop
    pg_stop
    rm -rf "$DIR"
    if [[ -f "$LAST" && "$(cat "$LAST")" == "$DIR" ]]; then rm -f "$LAST"; fi
    log "stopped and removed $DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    pg-stop) load_state; pg_stop ;;
    pg-start) load_state; pg_start ;;
    s3-stop) load_state; s3_stop ;;
    s3-start) load_state; s3_start ;;
    env) load_state; print_env ;;
    install-garage) install_garage; echo "$GARAGE_BIN" ;;
    *) echo "usage: $0 start|stop|pg-stop|pg-start|s3-stop|s3-start|env|install-garage" >&2; exit 2 ;;
esac
