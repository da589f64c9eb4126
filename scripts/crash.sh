#!/usr/bin/env bash
# Crash consistency: uploads run while the server is killed with SIGKILL at random moments
# and restarted; afterwards every acknowledged URL must serve its exact bytes and
# `wximg fsck` must find no lost or damaged picture (orphans, a blob stored by an upload
# that was killed before its row, are allowed; `fsck --repair --grace 0` must then leave it
# clean).
#
#   scripts/crash.sh                          # 25 kills, at least 1,000 acknowledged uploads
#   scripts/crash.sh --kills 3 --uploads 100  # the CI subset (~15 s)
#   scripts/crash.sh --backend scaleout       # on PostgreSQL + S3 (starts scripts/services.sh)
#
# Options: --kills N, --uploads N (acknowledged uploads to reach at least), --clients N
# (concurrent uploaders, default 8), --seed N (kill timing), --binary PATH (default: builds
# and uses its debug build). Prints one summary line; exit status 0 only when it passed.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
backend=embedded
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$binary" ]; then
  cargo build -q -p wximg-cli
  binary=${CARGO_TARGET_DIR:-target}/debug/wximg
fi
if [ "$backend" = scaleout ]; then
  eval "$(scripts/services.sh start)"
  trap 'scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
  export WXIMG_DATABASE_URL=$WXIMG_TEST_DATABASE_URL WXIMG_STORE=$WXIMG_TEST_STORE
fi

python3 - "$binary" "$backend" "${args[@]}" <<'PY'
import argparse, json, os, random, signal, subprocess, sys, tempfile, threading, time
import urllib.request, urllib.error

p = argparse.ArgumentParser()
p.add_argument("binary"); p.add_argument("backend")
p.add_argument("--kills", type=int, default=25)
p.add_argument("--uploads", type=int, default=1000)
p.add_argument("--clients", type=int, default=8)
p.add_argument("--seed", type=int, default=int(time.time()))
a = p.parse_args()
rng = random.Random(a.seed)
wximg = os.path.abspath(a.binary)
work = tempfile.mkdtemp(prefix="wximg-crash-")
data = os.path.join(work, "data")
PUBLIC = "http://crash.test"

def run(*args):
    return subprocess.run([wximg, *args, "--data", data], capture_output=True, text=True)

def fail(msg):
    print(f"crash test FAILED: {msg} (seed {a.seed}, data {data})", file=sys.stderr)
    sys.exit(1)

app = json.loads(run("app", "create", "--type", "official", "--json").stdout)
base_jpg = open("scripts/sdk/fixtures/photo.jpg", "rb").read()

def picture(n):  # the base JPEG with a COM segment naming n: distinct and whole
    text = f"crash picture {n} seed {a.seed}".encode()
    return base_jpg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + base_jpg[2:]

def start():
    log = open(os.path.join(work, "server.log"), "ab")
    proc = subprocess.Popen([wximg, "serve", "--listen", "127.0.0.1:0", "--public-url", PUBLIC,
                             "--data", data], stdout=subprocess.PIPE, stderr=log)
    line = proc.stdout.readline().decode()
    if not line.startswith("wximg listening on "):
        fail(f"server did not start: {line!r}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, line.split()[-1]

def call(url, body=None, headers={}, timeout=10):
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()

def upload(base, token, payload):
    b = b"crashBOUNDARYx7"
    body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="media"; filename="p.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + payload + b"\r\n--" + b + b"--\r\n")
    _, out = call(f"{base}/cgi-bin/media/uploadimg?access_token={token}", body,
                  {"Content-Type": "multipart/form-data; boundary=" + b.decode()})
    return json.loads(out)

acked, lock, counter = [], threading.Lock(), [0]
attempted = [0]
kills = 0
started = time.time()
while kills < a.kills or len(acked) < a.uploads:
    proc, base = start()
    _, out = call(f"{base}/cgi-bin/token?grant_type=client_credential&appid={app['appid']}&secret={app['secret']}")
    token = json.loads(out)["access_token"]
    def worker():
        while True:
            with lock:
                n = counter[0]; counter[0] += 1; attempted[0] += 1
            payload = picture(n)
            try:
                v = upload(base, token, payload)
            except Exception:
                return  # the server is gone
            if v.get("errcode") == 0:
                with lock:
                    acked.append((v["url"], payload))
            elif v.get("errcode") != -1:
                fail(f"unexpected answer {v}")
    threads = [threading.Thread(target=worker) for _ in range(a.clients)]
    for t in threads: t.start()
    time.sleep(rng.uniform(0.05, 0.8))  # a random moment: mid-write, mid-commit, mid-answer
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills += 1
    for t in threads: t.join()

# Restart once more; every acknowledged picture must be served, byte for byte.
proc, base = start()
for url, payload in acked:
    path = url[len(PUBLIC):].split("?")[0]
    try:
        status, body = call(base + path)
    except urllib.error.HTTPError as e:
        fail(f"{url} lost: HTTP {e.code}")
    if status != 200 or body != payload:
        fail(f"{url} changed after the kills")
proc.send_signal(signal.SIGTERM); proc.wait()

report = json.loads(run("fsck", "--json").stdout)
if report["missing"] or report["corrupt"]:
    fail(f"fsck found lost or damaged pictures: {report}")
orphans = len(report["orphans"])
repair = run("fsck", "--json", "--repair", "--grace", "0")
after = run("fsck", "--json")
if repair.returncode != 0 or after.returncode != 0:
    fail(f"fsck not clean after --repair: {repair.stdout} {after.stdout}")
elapsed = time.time() - started
print(f"crash test passed ({a.backend}): {kills} SIGKILLs, {attempted[0]} uploads attempted, "
      f"{len(acked)} acknowledged, all {len(acked)} served byte for byte after restart; "
      f"fsck: {report['rows']} rows verified, 0 missing, 0 corrupt, {orphans} orphans "
      f"(removed by --repair, then clean); {elapsed:.0f} s, seed {a.seed}")
import shutil; shutil.rmtree(work, ignore_errors=True)
PY
