#!/usr/bin/env bash
# Build and start wximg with embedded storage (./wximg-data), creating a first official
# app on the first start and printing its appid and secret once:
#
#   scripts/run.sh [serve flags…]      e.g. scripts/run.sh --listen 0.0.0.0:8080 --public-url https://pics.example.com
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nasm >/dev/null; then
  # mozjpeg (the client's --fit encoder) assembles its SIMD code with nasm.
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nasm >/dev/null
  else
    echo "run.sh: nasm is needed to build (sudo apt-get install nasm)" >&2; exit 1
  fi
fi
cargo build --release --locked -p wximg-cli
exec "${CARGO_TARGET_DIR:-target}/release/wximg" serve --init-app official "$@"
