#!/usr/bin/env bash
# Real backing services for the scale-out tests: a PostgreSQL cluster and an S3-compatible
# server (moto), both on loopback, on random free ports, in a temp directory.
#
#   eval "$(scripts/services.sh start)"; trap 'scripts/services.sh stop' EXIT
#
# `start` installs what is missing (Debian `postgresql` when `initdb`/`pg_ctl` are absent;
# `moto[server]` from PyPI into a venv cached under ${XDG_CACHE_HOME:-~/.cache}/wximg-ci/),
# starts both, creates a bucket and prints `export …` lines on stdout (progress goes to
# stderr):
#   WXIMG_SERVICES_DIR        the temp directory (data, logs, PIDs; `stop` removes it)
#   WXIMG_TEST_DATABASE_URL   postgres://wximg:PASSWORD@127.0.0.1:PORT/wximg
#   WXIMG_TEST_STORE          s3://wximg-test?endpoint=http://127.0.0.1:PORT&region=us-east-1
#   AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION
#   WXIMG_TEST_PG_PID WXIMG_TEST_S3_PID
#
# Other commands act on the services of $WXIMG_SERVICES_DIR (default: the last started):
#   stop                 stop both, remove the directory
#   pg-stop | pg-start   stop / restart PostgreSQL on the same port and data (outage tests)
#   s3-stop | s3-start   kill / restart moto on the same port and recreate the bucket
#                        (moto keeps objects in memory: they are gone after a restart)
#   env                  print the export lines again
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
}

print_env() {
    cat <<EOT
export WXIMG_SERVICES_DIR='$DIR'
export WXIMG_TEST_DATABASE_URL='postgres://wximg:$PG_PASSWORD@127.0.0.1:$PG_PORT/wximg'
export WXIMG_TEST_STORE='s3://$BUCKET?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1'
export AWS_ACCESS_KEY_ID='wximg-test' AWS_SECRET_ACCESS_KEY='wximg-test-secret' AWS_REGION='us-east-1'
export WXIMG_TEST_PG_PID='$(pg_pid)' WXIMG_TEST_S3_PID='$(s3_pid)'
EOT
}

pg_pid() { head -n1 "$DIR/pg/data/postmaster.pid" 2>/dev/null || true; }
s3_pid() { cat "$DIR/moto.pid" 2>/dev/null || true; }

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
    # setsid: its own session, so the caller's Ctrl-C or job control leaves it alone and
    # `stop` ends exactly this process.
    setsid "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >>"$DIR/moto.log" 2>&1 </dev/null &
    echo $! >"$DIR/moto.pid"
    for _ in $(seq 1 150); do
        if python3 - "$S3_PORT" "$BUCKET" <<'PY' 2>/dev/null; then return; fi
import sys, urllib.request
port, bucket = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/{bucket}", method="PUT")
urllib.request.urlopen(req, timeout=1).read()
PY
        kill -0 "$(s3_pid)" 2>/dev/null || { cat "$DIR/moto.log" >&2; die "moto_server exited"; }
        sleep 0.1
    done
    cat "$DIR/moto.log" >&2
    die "moto_server did not answer on 127.0.0.1:$S3_PORT"
}

s3_stop() {
    local pid
    pid=$(s3_pid)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/moto.pid"
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
    install_postgres
    install_moto
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
EOT
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

    log "moto_server on 127.0.0.1:$S3_PORT, bucket $BUCKET"
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
    *) echo "usage: $0 start|stop|pg-stop|pg-start|s3-stop|s3-start|env" >&2; exit 2 ;;
esac
