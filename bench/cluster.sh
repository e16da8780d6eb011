#!/usr/bin/env bash
# Cluster throughput benchmark (`rocknet run`, time_scale = 0): wall-clock
# rounds/s, emulated time / wall time (goal ≥ 50 on 2 cores), and the peak
# RSS of every device process, for a config (default: FaceAll at 20 devices
# on testbed20, one epoch = 560 training + 1,690 evaluation rounds).
# Usage: bench/cluster.sh [config] [epochs]
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/faceall-20.toml}
epochs=${2:-1}
cargo build --release -q --bin rocknet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ROCKNET__NETWORK__TIME_SCALE=0 ./target/release/rocknet run "$config" --epochs "$epochs" --out "$out" --json 2>/dev/null |
python3 -c '
import json, sys
r = json.load(sys.stdin)
rss = [d["peak_rss_bytes"] for d in r["per_device"] if d.get("peak_rss_bytes")]
print("config %s: %d devices, %d rounds in %.1f s wall" % (r["name"], r["devices"], r["rounds"], r["wall_seconds"]))
print("rounds/s (wall)            %.1f" % r["rounds_per_second"])
print("emulated time / wall time  %.1f  (emulated %.1f s; goal >= 50)" % (r["emulated_over_wall"], r["network"]["emulated_seconds"]))
if rss:
    print("peak RSS per node process  max %.1f MiB, mean %.1f MiB, min %.1f MiB" % (max(rss)/2**20, sum(rss)/len(rss)/2**20, min(rss)/2**20))
print("final test accuracy        %.4f" % r["final_accuracy"])
'
