#!/usr/bin/env bash
# The published article's page (/s/<id>) in a real headless Chromium.
#
#   scripts/browser/article_page.sh          (from anywhere; CI: called by scripts/test.sh)
#
# Installs what it needs as debug_page.sh does (Debian's `chromium`, `playwright-core`
# from npm, no browser download), builds wximg, starts `wximg serve --publish-delay 0` on
# a scratch data directory and a free loopback port, creates an app, and runs
# article_page.mjs: publish an article through the API, open its article_url at a
# phone's width, check every picture loaded and no request left this server. The
# screenshot goes to $WXIMG_ARTIFACTS (default target/test-artifacts)/article-page.png.
# Prints `N passed, M failed`; exit status 0 only when every check passed.
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

"$bin" serve --listen 127.0.0.1:0 --data "$data" --publish-delay 0 >"$out" 2>/dev/null &
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

node "$here/article_page.mjs" "$base" "$appid" "$secret" "$artifacts"
