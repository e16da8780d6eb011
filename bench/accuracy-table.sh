#!/usr/bin/env bash
# Prints the accuracy table of docs/results.md#accuracy: every shipped config, f32 + Adam and
# int8 + QAdam, seed 0, default train/test split, final test accuracy.
# Usage: bench/accuracy-table.sh [config ...]   (default: all in configs/)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin rocknet -q
rocknet() { cargo run --release -q --bin rocknet -- "$@"; }
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(configs/gunpoint.toml configs/coffee.toml configs/italypowerdemand.toml configs/arrowhead.toml configs/faceall.toml configs/basicmotions.toml)
acc() { rocknet train "$@" --json --eval-every 1000000 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.4f %s %s %s %s" % (r["accuracy"], r["epochs"], r["batch_size"], r["learning_rate"], r["max_device_memory_bytes"]))'; }
printf '| config | epochs | batch | lr | f32 + Adam | int8 + QAdam | largest device, int8 + QAdam (B) |\n|---|---|---|---|---|---|---|\n'
for c in "${configs[@]}"; do
  read -r a e b lr _ < <(acc "$c")
  read -r q _ _ _ m < <(acc "$c" --input int8 --optimizer qadam)
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(basename "$c" .toml)" "$e" "$b" "$lr" "$a" "$q" "$m"
done
