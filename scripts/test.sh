#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#
#   scripts/test.sh
#
# 1. installs what the build and tests need and the machine lacks (Debian: nasm for
#    mozjpeg, postgresql; PyPI: moto[server] and the SDKs, cached under ~/.cache/wximg-ci);
# 2. checks formatting and lints (cargo fmt --check, cargo clippy -D warnings);
# 3. starts a real PostgreSQL and a real S3 server (moto) on loopback, random ports;
# 4. runs every Rust test (unit, the server's HTTP suite on embedded storage, client,
#    CLI, durability, scale-out, multi-node) with one build;
# 5. runs the server's HTTP suite again on PostgreSQL + S3 (the backend matrix);
# 5b. swaps moto for Garage (a production S3 engine; AGPL, so a separate process built
#    from crates.io into ~/.cache/wximg-ci/garage: ~15 min the first time on a machine,
#    reused after) and runs the scale-out and multi-node tests and the server's HTTP
#    suite on PostgreSQL + Garage, with the same test binaries;
# 6. drives real clients, unchanged, against the built binary (wechatpy, co-wechat-api,
#    wechatpy's component client; the publishing tools md2wechat and wenyan end to end;
#    PUBLISHJOBFINISH pushes parsed by wechatpy; wenyan and wechatpy with their hard-coded
#    https://api.weixin.qq.com through `wximg tls init`), and the /debug/ page and a
#    published article's page in a real headless Chromium;
# 7. a short crash-consistency run (SIGKILLs + fsck), the Debian package installed and
#    serving (scripts/package.sh), and cargo deny. The fuzz targets'
#    seeds and 60,000 mutations run on stable inside step 4; libFuzzer runs (nightly)
#    are scripts/fuzz.sh, with results in RELIABILITY.md.
# Services are stopped when it ends, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
passed=0; failed=0; failures=()
suite() { # NAME CMD…: run one suite, record the outcome, keep going
  local name=$1; shift
  step "$name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

step "system packages"
missing=()
command -v nasm >/dev/null || missing+=(nasm)
{ command -v initdb >/dev/null || [ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing+=(postgresql)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
command -v systemd-analyze >/dev/null || missing+=(systemd)   # the package's unit check
command -v adduser >/dev/null || missing+=(adduser)
command -v curl >/dev/null || missing+=(curl)
command -v ss >/dev/null || missing+=(iproute2)                # the listen backlog test
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "all present"
fi

# Garage takes ~15 minutes to build the first time on a machine: say so up front, and
# count a failed build as one failed suite (the Garage suites are then skipped) rather
# than stopping everything else.
step "Garage (S3 server for the scale-out suites; built once per machine)"
garage_ok=
if scripts/services.sh install-garage; then garage_ok=1; else
  failed=$((failed + 1)); failures+=("building Garage (scripts/services.sh install-garage)")
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

step "build"
cargo test --workspace --locked --no-run

step "backing services (PostgreSQL, S3: moto)"
eval "$(scripts/services.sh start)"
trap 'scripts/services.sh stop >/dev/null 2>&1 || true' EXIT

# The scale-out tests use the services the exports above name; the server's HTTP suite
# (every module of its `api` test binary but `scaleout_backend`, which the first run has
# done) runs on embedded storage first, then again on PostgreSQL + S3 (WXIMG_TEST_BACKEND).
# The second run selects the binary with --workspace --test api, not -p wximg-server:
# with -p, cargo unifies features for that package alone and rebuilt 60 crates (~3 min).
suite "all Rust tests (HTTP suite on embedded storage; scale-out tests on PostgreSQL + S3)" \
  cargo test --workspace --locked
suite "server HTTP suite on PostgreSQL + S3" \
  env WXIMG_TEST_BACKEND=scaleout \
  cargo test --workspace --locked --test api -- --skip scaleout_backend::

# The same scale-out suites on Garage, which ignores `If-None-Match: *` (see
# docs/scaleout.md): a fresh PostgreSQL and Garage in place of moto, only the environment
# changes (same cargo invocations, nothing rebuilt). The CLI tests that stop and restart
# S3 start a private Garage of their own the same way (WXIMG_S3_SERVER is inherited).
if [ -n "$garage_ok" ]; then
  step "backing services (PostgreSQL, S3: Garage)"
  scripts/services.sh stop >/dev/null
  export WXIMG_S3_SERVER=garage
  eval "$(scripts/services.sh start)"
  suite "scale-out, multi-node and takedown tests on PostgreSQL + Garage" \
    cargo test --workspace --locked --test cli --test api -- scaleout_ _scaleout two_nodes
  suite "server HTTP suite on PostgreSQL + Garage" \
    env WXIMG_TEST_BACKEND=scaleout \
    cargo test --workspace --locked --test api -- --skip scaleout_backend::
  unset WXIMG_S3_SERVER
fi
# The binary the build step made (cargo puts it under CARGO_TARGET_DIR when that is set).
wximg=${CARGO_TARGET_DIR:-target}/debug/wximg
suite "real clients (wechatpy, co-wechat-api, md2wechat, wenyan; PUBLISHJOBFINISH pushes; hard-coded hosts over TLS)" scripts/sdk/run.sh "$wximg"
suite "third-party platform through wechatpy's component client" scripts/sdk/wechatpy_component.sh "$wximg"
suite "the /debug/ page in headless Chromium" env WXIMG_BIN="$wximg" scripts/browser/debug_page.sh
suite "the published article's page (/s/) in headless Chromium" env WXIMG_BIN="$wximg" scripts/browser/article_page.sh
suite "crash consistency (3 SIGKILLs, then fsck)" scripts/crash.sh --kills 3 --uploads 100 --binary "$wximg"
suite "the Debian package: dpkg -i, systemd-analyze verify, served as its unit runs it" scripts/package.sh
command -v cargo-deny >/dev/null || cargo install --locked --quiet cargo-deny
suite "cargo deny (licences, bans, sources; advisories cannot be fetched here)" cargo deny check licenses bans sources

echo
if [ "$failed" -gt 0 ]; then
  printf 'failed suite: %s\n' "${failures[@]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
