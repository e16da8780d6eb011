#!/usr/bin/env bash
# Per-device memory, latency and energy per sample at several cluster sizes
# (`rocknet scale`): each size N runs the config on the first N + 1 nodes of
# its topology. Prints the sweep's scale.md (also in the sweep directory,
# with scale.svg).
# Usage: bench/scale.sh [config] [sizes] [epochs]
#   default: configs/faceall-20.toml 1,2,5,10,20 1
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/faceall-20.toml}
sizes=${2:-1,2,5,10,20}
epochs=${3:-1}
cargo build --release -q --bin rocknet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ROCKNET__NETWORK__TIME_SCALE=0 ./target/release/rocknet scale "$config" --devices "$sizes" --epochs "$epochs" --out "$out" >/dev/null 2>&1
cat "$(find "$out" -name scale.md | head -n 1)"
