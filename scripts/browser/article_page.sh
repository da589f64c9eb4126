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
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

start_server --publish-delay 0

node "$here/article_page.mjs" "$base" "$appid" "$secret" "$artifacts"
