#!/usr/bin/env bash
# Per-buffer memory of every device of a config, and of the same model on one
# device, from `rocknet train --json` (MemoryFootprint: the bytes the device
# model allocates). Trains one epoch, so it takes seconds; memory does not
# depend on training.
# Usage: bench/memory.sh [config]   (default: configs/faceall-20.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/faceall-20.toml}
cargo build --release -q --bin rocknet
train() { ./target/release/rocknet train "$config" --epochs 1 --json "$@" 2>/dev/null; }
largest=$(train | python3 -c '
import json, sys
r = json.load(sys.stdin)
d = max(r["memory"], key=lambda m: m["memory_bytes"])
print("config %s: %d devices, %d features, %d classes, length %d, %s input, %s" % (
    r["name"], r["devices"], r["num_features"], r["n_classes"], r["length"], r["input"], r["optimizer"]))
print("largest device: %d (%d features)" % (d["device"], d["features"]))
print("| buffer | bytes |")
print("|---|---:|")
for name, b in sorted(d["buffers"].items(), key=lambda kv: -kv[1]):
    if b:
        print("| %s | %s |" % (name, format(b, ",")))
print("| **total** | **%s** (%.1f KiB) |" % (format(d["memory_bytes"], ","), d["memory_bytes"] / 1024))
')
echo "$largest"
for opt in "f32 adam" "int8 qadam"; do
  set -- $opt
  one=$(train --devices 1 --input "$1" --optimizer "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["max_device_memory_bytes"])')
  many=$(train --input "$1" --optimizer "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["max_device_memory_bytes"])')
  printf '%s + %s: largest device %s B; the whole model on one device %s B\n' "$1" "$2" "$many" "$one"
done
