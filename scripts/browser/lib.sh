# Shared by the browser tests (debug_page.sh, article_page.sh); sourced, not run.
#
# Sets: here, root, artifacts (created), bin (built unless $WXIMG_BIN), data and out
# (scratch, removed on exit with the server), appid and secret of a new official account.
# Installs what the machine lacks: Debian's `chromium`, and `playwright-core` from npm into
# scripts/browser/node_modules (it only drives /usr/bin/chromium; no browser download).
# start_server ARGS…: starts `wximg serve --listen 127.0.0.1:0 --data $data ARGS…` and
# sets `base`; exits with "0 passed, 1 failed" if it does not start.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
artifacts="${WXIMG_ARTIFACTS:-$root/target/test-artifacts}"
mkdir -p "$artifacts"

if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "installing playwright-core (npm)"
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
fi

bin="${WXIMG_BIN:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -q -p wximg-cli)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/wximg"
fi

data="$(mktemp -d)"
out="$(mktemp)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$data" "$out"
}
trap cleanup EXIT

app="$("$bin" app create --type official --json --data "$data")"
appid="$(printf '%s' "$app" | sed -n 's/.*"appid":"\([^"]*\)".*/\1/p')"
secret="$(printf '%s' "$app" | sed -n 's/.*"secret":"\([^"]*\)".*/\1/p')"

start_server() {
  : >"$out" # exists before the job opens it: the loop below may read it first
  "$bin" serve --listen 127.0.0.1:0 --data "$data" "$@" >"$out" 2>/dev/null &
  server_pid=$!
  base=""
  for _ in $(seq 1 100); do
    base="$(sed -n 's/^wximg listening on //p' "$out" | head -n1)"
    [ -n "$base" ] && break
    sleep 0.1
  done
  if [ -z "$base" ]; then
    echo "wximg serve did not start"
    echo "0 passed, 1 failed"
    exit 1
  fi
}
