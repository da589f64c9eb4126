#!/usr/bin/env bash
# Peak RSS and time of the client on hostile pictures (RELIABILITY.md, "Hostile inputs to
# the client"): `publish` on articles with one and four 12000×12000 PNGs (~420 KB each),
# and `upload --fit --jobs 8` on a batch holding a 40000×40000 PNG. The PNGs are real
# (python's zlib deflates flat rows; every CRC right), made here a row at a time.
#
#   scripts/hostile-client.sh [path/to/wximg]      (default: $CARGO_TARGET_DIR or target, debug)
#
# CASES="one four fit plain under" (the default) picks the runs: on code without the decoder
# limit, `four` and `fit` take several GB.
set -euo pipefail
WXIMG=${1:-${CARGO_TARGET_DIR:-target}/debug/wximg}
CASES=${CASES:-one four fit plain under}
WORK=$(mktemp -d)
trap 'kill "${SERVER:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

python3 - "$WORK" <<'PY'
import struct, sys, zlib
work = sys.argv[1]
def png(path, w, h, seed):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z = zlib.compressobj(9)
    row = bytearray(b"\x00" + bytes([200]) * (w * 3))
    row[1:7] = bytes([seed, seed ^ 0x55, 7, 1, 2, seed])
    parts = [z.compress(bytes(row))]
    row[1:7] = bytes([200]) * 6
    row = bytes(row)
    for _ in range(1, h):
        parts.append(z.compress(row))
    parts.append(z.flush())
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", b"".join(parts)))
        f.write(chunk(b"IEND", b""))
for i in range(4):
    png(f"{work}/big{i}.png", 12000, 12000, i + 1)
png(f"{work}/huge.png", 40000, 40000, 9)
for i in range(4):  # just under --fit's 100 MP limit: decoded, and fitted
    png(f"{work}/under{i}.png", 10000, 10000, i + 20)
# a small photo-like JPEG-free input: a 64×48 PNG with noise (uploads as is)
import random
random.seed(1)
raw = b"".join(b"\x00" + bytes(random.randrange(256) for _ in range(64 * 3)) for _ in range(48))
with open(f"{work}/small.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n")
    for kind, data in ((b"IHDR", struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0)), (b"IDAT", zlib.compress(raw)), (b"IEND", b"")):
        f.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))
PY
ls -l "$WORK"/*.png

"$WXIMG" app create --type official --json --data "$WORK/data" > "$WORK/app.json"
APPID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["appid"])' "$WORK/app.json")
SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$WORK/app.json")
: > "$WORK/serve.out" # exists before the job opens it: the loop below may read it first
"$WXIMG" serve --data "$WORK/data" --listen 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.log" &
SERVER=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" && break; sleep 0.1; done
BASE=$(sed -n 's/^wximg listening on //p' "$WORK/serve.out")
export WXIMG_BASE_URL=$BASE WXIMG_APPID=$APPID WXIMG_SECRET=$SECRET WXIMG_CACHE_DIR=$WORK/cache

measure() { # case, label, command…
    local case=$1 label=$2; shift 2
    [[ " $CASES " == *" $case "* ]] || return 0
    local status=0
    /usr/bin/time -v "$@" > "$WORK/out" 2> "$WORK/err" || status=$?
    echo "== $label (exit $status)"
    grep -v -e '^\s' "$WORK/err" | grep -v '^Command' || true
    cat "$WORK/out" | cut -c1-300
    grep -e 'Maximum resident set size' -e 'Elapsed (wall clock)' "$WORK/err"
}

mkdir -p "$WORK/one" "$WORK/four" "$WORK/under"
cp "$WORK"/under[0-3].png "$WORK/under/"
printf '![a](under0.png)\n![b](under1.png)\n![c](under2.png)\n![d](under3.png)\n' > "$WORK/under/post.md"
cp "$WORK/big0.png" "$WORK/one/"
cp "$WORK"/big[0-3].png "$WORK/four/"
printf '![a](big0.png)\n' > "$WORK/one/post.md"
printf '![a](big0.png)\n![b](big1.png)\n![c](big2.png)\n![d](big3.png)\n' > "$WORK/four/post.md"
measure one "publish, one 12000x12000 PNG" "$WXIMG" publish "$WORK/one/post.md" -o "$WORK/one/out.md"
measure four "publish, four 12000x12000 PNGs" "$WXIMG" publish "$WORK/four/post.md" -o "$WORK/four/out.md"
measure fit "upload --fit --jobs 8: small, 40000x40000, four 12000x12000" \
    "$WXIMG" upload --fit --jobs 8 --json "$WORK/small.png" "$WORK/huge.png" "$WORK"/big[0-3].png
measure plain "upload (no --fit) --jobs 8: the same batch" \
    "$WXIMG" upload --jobs 8 --json "$WORK/small.png" "$WORK/huge.png" "$WORK"/big[0-3].png
measure under "publish, four 10000x10000 PNGs (under the limit: fitted within the 100 MP budget)" \
    "$WXIMG" publish "$WORK/under/post.md" -o "$WORK/under/out.md"
