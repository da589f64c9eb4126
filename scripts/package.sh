#!/usr/bin/env bash
# The Debian package, built, installed with dpkg, checked, and started as its systemd unit
# would start it, to serve one upload:
#
#   scripts/package.sh                 # CI: packages the debug binary the test build made
#   scripts/package.sh --release       # builds and packages a release binary (for shipping)
#   scripts/package.sh --keep          # leaves the package installed afterwards
#
# Needs root (dpkg -i). Installs cargo-deb if missing. Steps:
# 1. `cargo deb -p wximg-cli` (with `--profile dev --no-build` in CI: no second build);
# 2. `dpkg -i`; the binary, unit, environment file and the wximg user are there;
# 3. `systemd-analyze verify` on the installed unit;
# 4. the installed binary started the way the unit says: as its User/Group, with no new
#    privileges, its UMask, in its WorkingDirectory, with its StateDirectory made as
#    systemd makes it and its EnvironmentFile loaded (only WXIMG_LISTEN is changed, to a
#    free loopback port); an app is created as an operator would (`wximg app create`
#    as the wximg user), a token fetched, a picture uploaded and fetched back;
# 5. the package purged again (the user stays, as Debian keeps system users), unless
#    --keep. Prints "package: ok" and exits 0 only when every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev
keep=false
for arg in "$@"; do
  case "$arg" in
    --release) profile=release ;;
    --keep) keep=true ;;
    *) echo "usage: scripts/package.sh [--release] [--keep]" >&2; exit 2 ;;
  esac
done
say() { printf 'package: %s\n' "$*"; }
die() { printf 'package: FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (dpkg -i, a system user)"

# Pinned: cargo-deb 3.8 packages a dev-profile binary (with a warning that a later
# version may refuse to), which lets CI package the binary its test build made.
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION"; then
  cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
fi
target=${CARGO_TARGET_DIR:-target}
if [ "$profile" = dev ]; then
  [ -x "$target/debug/wximg" ] || cargo build --locked -p wximg-cli
  cargo deb -p wximg-cli --profile dev --no-build --no-strip --output "$target/debian/" \
    2> >(grep -v -e 'dev profile is not supported' -e 'To enable debug symbols' >&2) >/dev/null
else
  cargo deb -p wximg-cli --locked --output "$target/debian/" >/dev/null
fi
deb=$(ls -t "$target"/debian/wximg_*.deb | head -n 1)
say "built $deb ($(du -h "$deb" | cut -f1))"

work=$(mktemp -d "${TMPDIR:-/tmp}/wximg-package.XXXXXX")
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ "$keep" = false ]; then
    dpkg --purge wximg >/dev/null 2>&1 || true
    rm -rf /var/lib/wximg
  fi
  rm -rf "$work"
}
trap cleanup EXIT

dpkg -i "$deb" >/dev/null || die "dpkg -i $deb"
unit=/lib/systemd/system/wximg.service
for f in /usr/bin/wximg "$unit" /etc/default/wximg /usr/share/doc/wximg/README.md; do
  [ -e "$f" ] || die "$f not installed"
done
getent passwd wximg >/dev/null || die "no wximg user after install"
/usr/bin/wximg --version >/dev/null || die "the installed binary does not run"
say "installed: /usr/bin/wximg, $unit, /etc/default/wximg, user wximg"

# systemd-analyze verify checks the unit's syntax, its directives and that ExecStart
# exists; it needs no running systemd.
if ! out=$(systemd-analyze verify "$unit" 2>&1); then
  die "systemd-analyze verify: $out"
fi
[ -z "$out" ] || die "systemd-analyze verify warned: $out"
say "systemd-analyze verify: clean"

# What the unit says, read from the installed file (so a change to it is tested here).
value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
user=$(value User); group=$(value Group); state=$(value StateDirectory)
mode=$(value StateDirectoryMode); workdir=$(value WorkingDirectory); umask_=$(value UMask)
envfile=$(value EnvironmentFile); envfile=${envfile#-}; exec_start=$(value ExecStart)
[ "$(value NoNewPrivileges)" = yes ] || die "the unit lacks NoNewPrivileges=yes"
[ "$(value ProtectSystem)" = strict ] || die "the unit lacks ProtectSystem=strict"
# StateDirectory=: systemd makes /var/lib/NAME, owned by the service's user, with its mode.
install -d -o "$user" -g "$group" -m "${mode:-0755}" "/var/lib/$state"
# CMD…: run as the unit runs its ExecStart. Called in a subshell (command substitution,
# or `&`), which the final exec turns into the command itself, so `$!` is its PID.
as_unit() {
  cd "$workdir"
  umask "$umask_"
  set -a
  # shellcheck disable=SC1090
  . "$envfile"
  set +a
  export WXIMG_LISTEN=127.0.0.1:0
  exec setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs -- "$@"
}

app=$(as_unit /usr/bin/wximg app create --type official --name packaged --json) \
  || die "wximg app create as $user"
appid=$(printf '%s' "$app" | python3 -c 'import json,sys; print(json.load(sys.stdin)["appid"])')
secret=$(printf '%s' "$app" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')

# The files exist before the server starts: the background job opens them itself, and
# may not have done so yet when the loop below first reads them.
: >"$work/stdout"; : >"$work/stderr"
# shellcheck disable=SC2086 # ExecStart is a command line
as_unit $exec_start >"$work/stdout" 2>"$work/stderr" &
server=$!
base=""
for _ in $(seq 1 100); do
  base=$(sed -n 's/^wximg listening on //p' "$work/stdout")
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || die "the server exited: $(cat "$work/stderr")"
  sleep 0.1
done
[ -n "$base" ] || die "the server did not listen within 10 s"
owner=$(stat -c %U "/var/lib/$state/data")
[ "$owner" = "$user" ] || die "the data directory belongs to $owner, not $user"

token=$(curl -fsS "$base/cgi-bin/token?grant_type=client_credential&appid=$appid&secret=$secret" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || die "token"
answer=$(curl -fsS -F "media=@scripts/sdk/fixtures/photo.jpg" \
  "$base/cgi-bin/media/uploadimg?access_token=$token")
url=$(printf '%s' "$answer" | python3 -c 'import json,sys; a=json.load(sys.stdin); assert a["errcode"]==0, a; print(a["url"])') \
  || die "upload: $answer"
curl -fsS -o "$work/back.jpg" "$url" || die "GET $url"
cmp -s "$work/back.jpg" scripts/sdk/fixtures/photo.jpg || die "the served picture differs"
say "served one upload as $user from /var/lib/$state: $url"
say "ok"
