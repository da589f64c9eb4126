#!/usr/bin/env bash
# Fuzzes the picture rules and the upload body reader with cargo-fuzz (libFuzzer) for a
# bounded time per target, and prints executions and coverage per target.
#
#   scripts/fuzz.sh smoke            # CI: 10 s per target
#   scripts/fuzz.sh run [SECONDS]    # long run, default 600 s per target
#   scripts/fuzz.sh run 60 rules     # one target
#   scripts/fuzz.sh coverage         # line coverage of rules.rs / media.rs by corpus + seeds
#
# Targets (fuzz/fuzz_targets/): rules (wximg_proto::rules, JPEG/PNG structure),
# multipart (wximg_server::media::read_media, the streaming multipart read and its framing
# limits, with a memory bound checked on every input).
# Needs a nightly toolchain (libFuzzer's instrumentation); installs cargo-fuzz if missing.
# The corpus grows in fuzz/corpus/<target> (not committed), seeded from fuzz/seeds/<target>.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the run: turn it into a
# regression test in crates/wximg-proto/tests/proto/fuzz_regressions.rs (or the server's tests).
# Built without a sanitizer (-s none: the fuzzed code is safe Rust, and it runs ~3x more
# inputs a second) but with debug assertions and overflow checks (-a).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-smoke}
case "$mode" in
  smoke) seconds=${2:-10} ;;
  run) seconds=${2:-600} ;;
  coverage) seconds=0 ;;
  *) echo "usage: scripts/fuzz.sh smoke|run|coverage [SECONDS] [TARGET…]" >&2; exit 2 ;;
esac
shift $(( $# >= 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(rules multipart)

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain; installing one (rustup toolchain install nightly)"
  if ! rustup toolchain install nightly --profile minimal; then
    echo "fuzz: FAILED: cargo-fuzz needs a nightly toolchain and none can be installed" >&2
    exit 1   # loud, in CI and out: a fuzz run that cannot run is not a pass
  fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

declare -A max_len=([rules]=65536 [multipart]=40000)
declare -A source=([rules]=crates/wximg-proto/src/rules.rs ["multipart"]="crates/wximg-server/src/media.rs crates/wximg-server/src/media/framing.rs")
cd fuzz

if [ "$mode" = coverage ]; then
  rustup component add llvm-tools-preview --toolchain nightly >/dev/null
  llvm_cov=$(ls "$(rustc +nightly --print sysroot)"/lib/rustlib/*/bin/llvm-cov)
  for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    cargo +nightly fuzz coverage "$t" "corpus/$t" "seeds/$t" >/dev/null 2>&1
    bin=$(find target -path '*coverage*' -name "$t" -type f -perm -u+x | head -n 1)
    read -ra files <<<"${source[$t]}"
    "$llvm_cov" report "$bin" -instr-profile="coverage/$t/coverage.profdata" \
      "${files[@]/#/../}" | awk -v t="$t" 'NR > 2 && $1 != "TOTAL" && NF > 5 {
        printf "fuzz coverage: %s: %s lines %s (regions %s, functions %s)\n", t, $1, $10, $4, $7 }'
  done
  exit 0
fi
echo "fuzz: building (nightly, own target dir fuzz/target)"
cargo +nightly fuzz build -s none -a

status=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=$(mktemp)
  echo "fuzz: $t for ${seconds}s"
  if cargo +nightly fuzz run -s none -a "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -max_len="${max_len[$t]:-4096}" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    outcome=ok
  else
    outcome=FAILED
    status=1
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact_prefix' "$log" | head -n 20 >&2 || true
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
  line="$t: $outcome, ${execs:-?} executions (${speed:-?}/s) in ${seconds}s, ${cov:-no coverage line}, corpus $(ls "corpus/$t" | wc -l) files"
  echo "fuzz: $line"
  summary+=("$line")
  rm -f "$log"
done
printf '\nfuzz summary (%s):\n' "$mode"
printf '  %s\n' "${summary[@]}"
exit $status
