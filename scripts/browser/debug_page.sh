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
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

component="$("$bin" component create --json --data "$data")"
component_appid="$(printf '%s' "$component" | sed -n 's/.*"appid":"\([^"]*\)".*/\1/p')"
component_secret="$(printf '%s' "$component" | sed -n 's/.*"secret":"\([^"]*\)".*/\1/p')"
ticket="$("$bin" component ticket --component "$component_appid" --data "$data")"

start_server --debug-page

node "$here/debug_page.mjs" "$base" "$appid" "$secret" "$artifacts" \
  "$component_appid" "$component_secret" "$ticket"
