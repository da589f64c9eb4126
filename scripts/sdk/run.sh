#!/usr/bin/env bash
# "Real clients, unchanged": drive a freshly started `wximg serve` with the public SDKs
# people already use for uploadimg, pointed at it only by their supported base-URL knobs.
#
#   scripts/sdk/run.sh [PATH_TO_WXIMG]        (default: $CARGO_TARGET_DIR or target, /debug/wximg)
#
# - wechatpy (PyPI) in a venv cached at $XDG_CACHE_HOME/wximg-ci/sdk-venv
# - co-wechat-api (npm) in a dir cached at $XDG_CACHE_HOME/wximg-ci/sdk-node
# - the publishing tools md2wechat (PyPI, same venv) and @wenyan-md/core (npm, same dir),
#   whose API host is hard-coded: the tests redirect it at the HTTP layer (see each test)
# - "hard-coded hosts over TLS": a second server, started by `wximg tls init` +
#   `wximg serve --tls-cert … --listen 127.x.y.z:443` on a random loopback address, and
#   wenyan and the stock wechatpy WeChatClient run against https://api.weixin.qq.com with
#   NO redirect: the test resolves the platform's names to that address (a Node preload
#   replacing dns.lookup, a socket.getaddrinfo replacement in Python) and each client
#   trusts the CA through its own setting (NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE).
#   Binding port 443 needs root or CAP_NET_BIND_SERVICE: without it this suite FAILs.
# Both are reused while their pins match. Prints one line per check and ends with the line
# "N passed, M failed"; exits non-zero if any check failed or an SDK could not be installed.
# Only loopback is used; the server listens on a port the kernel picks.
# Env: PYTHON (default python3), NODE (default node), NPM (default npm),
#      WXIMG_SDK_KEEP=1 keeps the scratch dir (server log included) for inspection.

set -uo pipefail

WECHATPY_VERSION=1.8.18        # newest 1.8.x on PyPI (pip index versions wechatpy)
PILLOW_VERSION=13.0.0          # only to make test pictures in the venv
CO_WECHAT_API_VERSION=3.11.0   # newest 3.x on npm (npm view co-wechat-api versions)
MD2WECHAT_VERSION=2.0.1        # publishing tool (PyPI); brings its own wechatpy, same 1.8.18
WENYAN_VERSION=3.0.10          # @wenyan-md/core, publishing tool (npm), and its peer deps:
JSDOM_VERSION=27.4.0
FORMDATA_NODE_VERSION=6.0.3
FORM_DATA_ENCODER_VERSION=4.1.0
READY_TIMEOUT=${WXIMG_SDK_READY_TIMEOUT:-30}  # seconds to wait for "wximg listening on …"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
NODE=${NODE:-node}
NPM=${NPM:-npm}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/wximg-ci
VENV=$CACHE/sdk-venv
NODE_DIR=$CACHE/sdk-node
START=$(date +%s)

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
finish() {
    echo "# took $(( $(date +%s) - START )) s"
    echo "$PASSED passed, $FAILED failed"
    if (( FAILED > 0 )); then exit 1; fi
    exit 0
}

# --- the binary ----------------------------------------------------------------------
BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/wximg}
if [[ ! -x $BIN && $BIN != /* && -x $ROOT/$BIN ]]; then BIN=$ROOT/$BIN; fi
if [[ ! -x $BIN ]]; then
    fail "wximg binary not found or not executable: $BIN (build it: cargo build -p wximg-cli)"
    finish
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# --- scratch dir and the server's lifetime --------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wximg-sdk.XXXXXX")
SERVER_PID=
TLS_PID=
stop_tls_server() {
    if [[ -n $TLS_PID ]] && kill -0 "$TLS_PID" 2>/dev/null; then
        kill -TERM "$TLS_PID" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$TLS_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$TLS_PID" 2>/dev/null && kill -KILL "$TLS_PID" 2>/dev/null
        wait "$TLS_PID" 2>/dev/null
    fi
    TLS_PID=
}
stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "# server did not stop within 10 s of SIGTERM; sending SIGKILL" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null
        fi
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=
}
cleanup() {
    stop_tls_server
    stop_server
    if [[ ${WXIMG_SDK_KEEP:-} == 1 ]]; then
        echo "# kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$CACHE" || { fail "cannot create cache dir $CACHE"; finish; }

# Serialise installs between concurrent runs sharing the cache.
lock_cache() {
    if command -v flock >/dev/null; then
        exec 9>"$CACHE/.lock" && flock -w 600 9
    fi
}
unlock_cache() {
    if command -v flock >/dev/null; then exec 9>&-; fi
}

# --- wechatpy venv ---------------------------------------------------------------------
WECHATPY_OK=0
install_wechatpy() {
    local pyver pin log=$WORK/pip.log
    if ! pyver=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1); then
        fail "install wechatpy: $PY does not run: $pyver"
        return
    fi
    pin="python=$pyver wechatpy[cryptography]==$WECHATPY_VERSION pillow==$PILLOW_VERSION md2wechat==$MD2WECHAT_VERSION"
    lock_cache
    if [[ -f $VENV/.wximg-pin && $(cat "$VENV/.wximg-pin") == "$pin" ]] \
        && "$VENV/bin/python" -c 'import wechatpy, PIL, skills.md2wechat.scripts.publish' >/dev/null 2>&1; then
        echo "# wechatpy $WECHATPY_VERSION: reusing $VENV"
        WECHATPY_OK=1
    else
        echo "# wechatpy $WECHATPY_VERSION: installing into $VENV"
        rm -rf "$VENV"
        if "$PY" -m venv "$VENV" >"$log" 2>&1 \
            && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
                "wechatpy[cryptography]==$WECHATPY_VERSION" "pillow==$PILLOW_VERSION" \
                "md2wechat==$MD2WECHAT_VERSION" >>"$log" 2>&1 \
            && "$VENV/bin/python" -c 'import wechatpy, PIL, skills.md2wechat.scripts.publish' >>"$log" 2>&1; then
            echo "$pin" >"$VENV/.wximg-pin"
            WECHATPY_OK=1
        else
            echo "# pip output:" >&2
            tail -n 40 "$log" >&2
            rm -rf "$VENV"
            fail "install wechatpy==$WECHATPY_VERSION (and pillow==$PILLOW_VERSION) into $VENV"
        fi
    fi
    unlock_cache
}

# --- co-wechat-api ---------------------------------------------------------------------
CO_OK=0
install_co_wechat_api() {
    local log=$WORK/npm.log want
    want=$(printf '{\n  "name": "wximg-sdk-node",\n  "private": true,\n  "dependencies": {\n    "co-wechat-api": "%s",\n    "@wenyan-md/core": "%s",\n    "jsdom": "%s",\n    "formdata-node": "%s",\n    "form-data-encoder": "%s"\n  }\n}\n' \
        "$CO_WECHAT_API_VERSION" "$WENYAN_VERSION" "$JSDOM_VERSION" "$FORMDATA_NODE_VERSION" "$FORM_DATA_ENCODER_VERSION")
    if ! command -v "$NODE" >/dev/null || ! command -v "$NPM" >/dev/null; then
        fail "install co-wechat-api: $NODE or $NPM not found"
        return
    fi
    lock_cache
    if [[ -f $NODE_DIR/.wximg-installed && -f $NODE_DIR/package.json \
            && $(cat "$NODE_DIR/package.json") == "$want" ]] \
        && [[ $(cd "$NODE_DIR" && "$NODE" -p 'require("co-wechat-api/package.json").version' 2>/dev/null) == "$CO_WECHAT_API_VERSION" ]]; then
        echo "# co-wechat-api $CO_WECHAT_API_VERSION: reusing $NODE_DIR"
        CO_OK=1
    else
        echo "# co-wechat-api $CO_WECHAT_API_VERSION: installing into $NODE_DIR"
        rm -rf "$NODE_DIR"
        mkdir -p "$NODE_DIR" && printf '%s\n' "$want" >"$NODE_DIR/package.json"
        if (cd "$NODE_DIR" && "$NPM" install --no-audit --no-fund --loglevel=error) >"$log" 2>&1 \
            && [[ $(cd "$NODE_DIR" && "$NODE" -p 'require("co-wechat-api/package.json").version' 2>>"$log") == "$CO_WECHAT_API_VERSION" ]]; then
            touch "$NODE_DIR/.wximg-installed"
            CO_OK=1
        else
            echo "# npm output:" >&2
            tail -n 40 "$log" >&2
            rm -rf "$NODE_DIR"
            fail "install co-wechat-api@$CO_WECHAT_API_VERSION into $NODE_DIR"
        fi
    fi
    unlock_cache
}

install_wechatpy
install_co_wechat_api

# --- an app and the server -------------------------------------------------------------
DATA=$WORK/data
if ! APP_JSON=$("$BIN" app create --type official --json --data "$DATA" 2>"$WORK/app.err"); then
    cat "$WORK/app.err" >&2
    fail "wximg app create --type official --json"
    finish
fi
read -r APPID SECRET < <(printf '%s' "$APP_JSON" | "$PY" -c \
    'import json,sys; a=json.load(sys.stdin); print(a["appid"], a["secret"])' 2>/dev/null)
if [[ -z ${APPID:-} || -z ${SECRET:-} ]]; then
    fail "wximg app create printed no appid/secret: $APP_JSON"
    finish
fi

"$BIN" serve --listen 127.0.0.1:0 --data "$DATA" >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVER_PID=$!
BASE=
for _ in $(seq 1 $((READY_TIMEOUT * 10))); do
    line=$(head -n 1 "$WORK/serve.out" 2>/dev/null)
    if [[ $line =~ ^wximg\ listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]]; then
        BASE=${BASH_REMATCH[1]}
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z $BASE ]]; then
    echo "# server stdout:" >&2; cat "$WORK/serve.out" >&2
    echo "# server log:" >&2; tail -n 40 "$WORK/serve.log" >&2
    fail "wximg serve did not print 'wximg listening on http://127.0.0.1:PORT' within ${READY_TIMEOUT} s"
    finish
fi
echo "# server $BASE (pid $SERVER_PID), app $APPID, scratch $WORK"

# Loopback only: never let a proxy from the environment carry the test traffic.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy

# Run one SDK's test script; count its "ok - " / "FAIL - " lines. A script that exits
# non-zero or does not get to its last check counts as one more failure.
run_suite() {
    local name=$1; shift
    local out=$WORK/$name.out rc
    "$@" >"$out" 2>"$WORK/$name.err"
    rc=$?
    cat "$out"
    local p f
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^FAIL - ' "$out")
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    if (( f > 0 || rc != 0 )); then
        echo "# $name stderr:" >&2
        tail -n 60 "$WORK/$name.err" >&2
    fi
    if (( rc != 0 )); then
        fail "$name: test script exited with status $rc"
    elif (( p + f == 0 )); then
        fail "$name: test script ran no check"
    fi
}

if (( WECHATPY_OK )); then
    mkdir -p "$WORK/wechatpy"
    PYTHONDONTWRITEBYTECODE=1 run_suite wechatpy \
        "$VENV/bin/python" "$HERE/wechatpy_test.py" "$BASE" "$APPID" "$SECRET" "$WORK/wechatpy"
fi
if (( WECHATPY_OK )); then
    # PUBLISHJOBFINISH pushes (needs the article workflow's endpoints), parsed by wechatpy.
    PYTHONDONTWRITEBYTECODE=1 run_suite wechatpy-events \
        "$VENV/bin/python" "$HERE/wechatpy_events_test.py" "$BASE" "$APPID" "$SECRET" "$WORK/wechatpy" "$BIN" "$DATA"
fi
if (( WECHATPY_OK )); then
    mkdir -p "$WORK/md2wechat"
    PYTHONDONTWRITEBYTECODE=1 run_suite md2wechat \
        "$VENV/bin/python" "$HERE/md2wechat_test.py" "$BASE" "$APPID" "$SECRET" "$WORK/md2wechat"
fi
if (( CO_OK && WECHATPY_OK )); then
    mkdir -p "$WORK/wenyan/pictures"
    if "$VENV/bin/python" "$HERE/make_pictures.py" "$WORK/wenyan/pictures"; then
        run_suite wenyan "$NODE" "$HERE/wenyan_test.mjs" "$BASE" "$APPID" "$SECRET" \
            "$WORK/wenyan" "$NODE_DIR/node_modules" "$WORK/wenyan/pictures"
    else
        fail "make the wenyan article's pictures"
    fi
fi
if (( CO_OK )); then
    mkdir -p "$WORK/co-wechat-api"
    NODE_PATH=$NODE_DIR/node_modules run_suite co-wechat-api \
        "$NODE" "$HERE/co_wechat_api_test.js" "$BASE" "$APPID" "$SECRET" "$WORK/co-wechat-api"
fi

if kill -0 "$SERVER_PID" 2>/dev/null; then
    pass "server still running after the SDK checks"
else
    echo "# server log:" >&2; tail -n 40 "$WORK/serve.log" >&2
    fail "server exited during the SDK checks"
fi
if grep -q 'panicked' "$WORK/serve.log"; then
    grep -m 5 'panicked' "$WORK/serve.log" >&2
    fail "server log has a panic"
fi
stop_server

# --- hard-coded hosts over TLS (wximg tls init; real DNS override, the client's own CA) --
tls_suites() {
    local tls=$WORK/tls data=$WORK/tls-data app appid secret addr line listening=
    if ! "$BIN" tls init --dir "$tls" >"$WORK/tls-init.out" 2>&1; then
        cat "$WORK/tls-init.out" >&2
        fail "wximg tls init --dir $tls"
        return
    fi
    if ! app=$("$BIN" app create --type official --json --data "$data" 2>"$WORK/tls-app.err"); then
        cat "$WORK/tls-app.err" >&2
        fail "wximg app create (TLS server)"
        return
    fi
    read -r appid secret < <(printf '%s' "$app" | "$PY" -c \
        'import json,sys; a=json.load(sys.stdin); print(a["appid"], a["secret"])' 2>/dev/null)
    # A random loopback address, so that port 443 clashes with nothing else on the machine.
    addr=127.$((RANDOM % 254 + 1)).$((RANDOM % 254 + 1)).$((RANDOM % 253 + 2))
    "$BIN" serve --listen "$addr:443" --data "$data" --tls-cert "$tls/cert.pem" \
        --tls-key "$tls/key.pem" --public-url https://mmbiz.qpic.cn \
        >"$WORK/tls-serve.out" 2>"$WORK/tls-serve.log" &
    TLS_PID=$!
    for _ in $(seq 1 $((READY_TIMEOUT * 10))); do
        line=$(head -n 1 "$WORK/tls-serve.out" 2>/dev/null)
        if [[ $line == "wximg listening on https://$addr:443" ]]; then
            listening=1
            break
        fi
        kill -0 "$TLS_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $listening ]]; then
        tail -n 20 "$WORK/tls-serve.log" >&2
        if grep -q "cannot listen" "$WORK/tls-serve.log"; then
            fail "hard-coded hosts over TLS: cannot bind $addr:443 (run as root or give wximg CAP_NET_BIND_SERVICE)"
        else
            fail "hard-coded hosts over TLS: wximg serve --tls-cert did not listen on https://$addr:443"
        fi
        stop_tls_server
        return
    fi
    echo "# TLS server https://$addr:443 (pid $TLS_PID), app $appid; api.weixin.qq.com and mmbiz.qpic.cn resolve to it"
    if (( CO_OK && WECHATPY_OK )); then
        mkdir -p "$WORK/wenyan-tls/pictures"
        if "$VENV/bin/python" "$HERE/make_pictures.py" "$WORK/wenyan-tls/pictures"; then
            NODE_EXTRA_CA_CERTS=$tls/ca.pem WXIMG_LOOPBACK=$addr \
                WXIMG_RESOLVE_LOG=$WORK/wenyan-tls/lookups.log \
                run_suite wenyan-tls "$NODE" --import "$HERE/resolve_loopback.mjs" \
                "$HERE/wenyan_tls_test.mjs" "$appid" "$secret" "$WORK/wenyan-tls" \
                "$NODE_DIR/node_modules" "$WORK/wenyan-tls/pictures"
        else
            fail "make the wenyan TLS article's pictures"
        fi
    fi
    if (( WECHATPY_OK )); then
        mkdir -p "$WORK/wechatpy-tls"
        REQUESTS_CA_BUNDLE=$tls/ca.pem PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$HERE \
            run_suite wechatpy-tls "$VENV/bin/python" "$HERE/wechatpy_tls_test.py" \
            "$addr" "$appid" "$secret" "$WORK/wechatpy-tls"
    fi
    if kill -0 "$TLS_PID" 2>/dev/null; then
        pass "TLS server still running after the hard-coded-host checks"
    else
        tail -n 40 "$WORK/tls-serve.log" >&2
        fail "TLS server exited during the hard-coded-host checks"
    fi
    if grep -q 'panicked' "$WORK/tls-serve.log"; then
        grep -m 5 'panicked' "$WORK/tls-serve.log" >&2
        fail "TLS server log has a panic"
    fi
    stop_tls_server
}
tls_suites

finish
