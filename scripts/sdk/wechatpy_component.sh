#!/usr/bin/env bash
# The third-party platform flow driven end to end by wechatpy's component client
# (WeChatComponent + WeChatComponentClient), unchanged, against a fresh `wximg serve`.
#
#   scripts/sdk/wechatpy_component.sh [PATH_TO_WXIMG]     (default: $CARGO_TARGET_DIR or target, /debug/wximg)
#
# Uses the wechatpy venv that scripts/sdk/run.sh keeps at $XDG_CACHE_HOME/wximg-ci/sdk-venv
# (installs it with the same pins when it is missing). Prints one line per check and
# "N passed, M failed"; exit status 0 only when every check passed.
set -uo pipefail

WECHATPY_VERSION=1.8.18
PILLOW_VERSION=13.0.0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/wximg-ci/sdk-venv

BIN=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/wximg}
if [[ ! -x $BIN ]]; then
    (cd "$ROOT" && cargo build -q -p wximg-cli) || { echo "0 passed, 1 failed"; exit 1; }
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/wximg
fi

if ! "$VENV/bin/python" -c 'import wechatpy, PIL' >/dev/null 2>&1; then
    echo "# installing wechatpy $WECHATPY_VERSION into $VENV"
    rm -rf "$VENV"
    if ! { "$PY" -m venv "$VENV" \
        && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            "wechatpy[cryptography]==$WECHATPY_VERSION" "pillow==$PILLOW_VERSION"; }; then
        echo "FAIL - install wechatpy"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wximg-component.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

DATA=$WORK/data
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
ACCOUNT=$("$BIN" app create --type official --json --data "$DATA" | json_field appid)
COMPONENT_JSON=$("$BIN" component create --json --data "$DATA")
CAPPID=$(printf '%s' "$COMPONENT_JSON" | json_field appid)
CSECRET=$(printf '%s' "$COMPONENT_JSON" | json_field secret)

: >"$WORK/serve.out" # exists before the job opens it: the loop below may read it first
"$BIN" serve --listen 127.0.0.1:0 --data "$DATA" >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVER_PID=$!
BASE=
for _ in $(seq 1 300); do
    BASE=$(sed -n 's/^wximg listening on //p' "$WORK/serve.out" | head -n1)
    [[ -n $BASE ]] && break
    sleep 0.1
done
if [[ -z $BASE ]]; then
    echo "FAIL - wximg serve did not start"; cat "$WORK/serve.log" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" "$HERE/wechatpy_component_test.py" \
    "$BASE" "$BIN" "$DATA" "$CAPPID" "$CSECRET" "$ACCOUNT"
