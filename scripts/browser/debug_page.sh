#!/usr/bin/env bash
# The /debug/ page in a real headless Chromium.
#
#   scripts/browser/debug_page.sh            (from anywhere; CI: called by scripts/test.sh)
#
# Installs what it needs and the machine lacks (Debian's `chromium`; `playwright-core`
# from npm into scripts/browser/node_modules, used only to drive /usr/bin/chromium — it
# downloads no browser), builds wximg, starts `wximg serve --debug-page` on a scratch
# data directory and a free loopback port, creates an app, and runs debug_page.mjs:
# fill the form, upload a picture, read the URL and the rendered picture. Screenshots go
# to $WXIMG_ARTIFACTS (default target/test-artifacts). Prints `N passed, M failed`; exit
# status 0 only when every check passed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
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

component="$("$bin" component create --json --data "$data")"
component_appid="$(printf '%s' "$component" | sed -n 's/.*"appid":"\([^"]*\)".*/\1/p')"
component_secret="$(printf '%s' "$component" | sed -n 's/.*"secret":"\([^"]*\)".*/\1/p')"
ticket="$("$bin" component ticket --component "$component_appid" --data "$data")"

"$bin" serve --listen 127.0.0.1:0 --data "$data" --debug-page >"$out" 2>/dev/null &
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

node "$here/debug_page.mjs" "$base" "$appid" "$secret" "$artifacts" \
  "$component_appid" "$component_secret" "$ticket"
