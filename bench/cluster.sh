#!/usr/bin/env bash
# Cluster throughput benchmark: one `rocknet run` (time_scale = 0) and one
# `rocknet train` of the same config and epochs, timed back to back. Prints
# wall-clock rounds/s, emulated time / wall time, each device process's peak
# RSS, the run's trace size, and two ratios against their targets:
#   wall(run) / wall(train)   target ≤ 2.5 (the cluster costs at most 2.5× the
#                             computation it emulates)
#   emulated / wall           target ≥ 1,000 (set for FaceAll/20)
# A bench, not a test: exits 0 whether a target is met (PASS) or not (MISS);
# it exits non-zero only if a command fails.
# Default: FaceAll at 20 devices on testbed20, one epoch = 560 training +
# 1,690 evaluation rounds.
# Usage: bench/cluster.sh [config] [epochs]
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/faceall-20.toml}
epochs=${2:-1}
cargo build --release -q --bin rocknet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

now_ns() { date +%s%N; }

t0=$(now_ns)
ROCKNET__NETWORK__TIME_SCALE=0 ./target/release/rocknet run "$config" --epochs "$epochs" \
    --out "$out/runs" --json >"$out/run.json" 2>"$out/run.log"
t1=$(now_ns)
./target/release/rocknet train "$config" --epochs "$epochs" --json >"$out/train.json" 2>"$out/train.log"
t2=$(now_ns)

run_dir=$(find "$out/runs" -mindepth 1 -maxdepth 1 -type d | head -n 1)
# Every trace file the run wrote (today trace.jsonl), in bytes.
trace_bytes=$(find "$run_dir" -maxdepth 1 -type f -name 'trace*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')

python3 - "$out/run.json" "$out/train.json" "$(( t1 - t0 ))" "$(( t2 - t1 ))" "$trace_bytes" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
train = json.load(open(sys.argv[2]))
run_wall = int(sys.argv[3]) / 1e9
train_wall = int(sys.argv[4]) / 1e9
trace_bytes = int(sys.argv[5])

def verdict(ok):
    return "PASS" if ok else "MISS"

rss = [d["peak_rss_bytes"] for d in run["per_device"] if d.get("peak_rss_bytes")]
print("config %s: %d devices, %d epoch(s), %d rounds" % (run["name"], run["devices"], train["epochs"], run["rounds"]))
print("rocknet run    wall %.2f s (report's wall_seconds %.2f s)" % (run_wall, run["wall_seconds"]))
print("rocknet train  wall %.2f s" % train_wall)
print("rounds/s (wall)            %.1f" % run["rounds_per_second"])
ratio = run_wall / train_wall
print("wall(run) / wall(train)    %.2f  target <= 2.5  %s" % (ratio, verdict(ratio <= 2.5)))
emu = run["emulated_over_wall"]
print("emulated time / wall time  %.1f  target >= 1000 (FaceAll/20)  %s  (emulated %.1f s)"
      % (emu, verdict(emu >= 1000), run["network"]["emulated_seconds"]))
print("trace size                 %d bytes (%.1f MiB)" % (trace_bytes, trace_bytes / 2**20))
if rss:
    print("peak RSS per node process  max %.1f MiB, mean %.1f MiB, min %.1f MiB"
          % (max(rss) / 2**20, sum(rss) / len(rss) / 2**20, min(rss) / 2**20))
print("final test accuracy        run %.4f, train %.4f" % (run["final_accuracy"], train["accuracy"]))
same = run.get("weights_hash") is not None and run.get("weights_hash") == train.get("weights_hash")
print("weights hash               run %s, train %s  %s"
      % (run.get("weights_hash"), train.get("weights_hash"), "same" if same else "DIFFERENT"))
EOF
