#!/usr/bin/env bash
# Scale bench: the emulator with 20, 50, 100 and 250 device processes.
# Each size N gets a random geometric topology (`kind = "random"`, host at the
# centre of a square whose side grows as √N, 400 m at N = 100, the same
# density as linkmodel/benches/flood.rs) with the first topology seed in 1..20
# that is connected, BLE 2M, Mixer with N_tx 3 and max(150, 4·N) slots, no
# extra loss; GunPoint with 10,000 features (84 kernels × 16 dilations = 1,344
# (dilation, kernel) blocks, so 250 devices each own at least 5), batch 16,
# `missing = "zero"`, time_scale = 0, one epoch by default. Per N it prints:
#   rounds/s        the run's rounds over its wall time (report.json)
#   relay CPU/round the relay process's utime + stime (/proc/<relay_pid>/stat,
#                   sampled every 20 ms while it lives, so a lower bound by at
#                   most one sample) over the rounds
#   flood µs/round  the link model alone: wall µs per Mixer round of the same
#                   link-model config, every node originating one 100-byte
#                   message (`mixer_stats` example, 50 rounds)
#   delivery        the run's delivery ratio (report.json network)
#   peak RSS        max over device processes of VmHWM (report.json)
# A size whose run fails or exceeds the time limit is reported and skipped.
# Usage: bench/scale-nodes.sh [sizes (20,50,100,250)] [epochs (1)] [limit_s (300)]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sizes=${1:-20,50,100,250}
epochs=${2:-1}
limit_s=${3:-300}
cargo build --release -q --bin rocknet
cargo build --release -q -p rocknet-linkmodel --example mixer_stats
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Follows the relay of the run under $1 (its cluster.json names relay_pid)
# and writes its last utime + stime in seconds to $2.
relay_cpu_poller() {
    # exec: the background job's pid is the poller's own, so `kill` stops it.
    exec python3 - "$1" "$2" <<'EOF'
import glob, json, os, sys, time
runs, dest = sys.argv[1], sys.argv[2]
tick = os.sysconf("SC_CLK_TCK")
pid = None
while pid is None:
    found = glob.glob(os.path.join(runs, "*", "cluster.json"))
    if found:
        try:
            pid = json.load(open(found[0]))["relay_pid"]
        except (ValueError, KeyError):
            pass
    time.sleep(0.01)
cpu = 0.0
while True:
    try:
        fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        break
    # After the ")" of comm: state is field 3, utime field 14, stime field 15.
    cpu = (int(fields[11]) + int(fields[12])) / tick
    time.sleep(0.02)
open(dest, "w").write("%.3f\n" % cpu)
EOF
}

printf '%-6s %-10s %-9s %-8s %-9s %-9s %-15s %-15s %-10s %-13s\n' \
    devices topology slots rounds wall_s rounds/s relay_cpu_ms/rd flood_us/round delivery peak_rss_MiB
for n in ${sizes//,/ }; do
    dir="$out/n$n"
    mkdir -p "$dir/runs"
    area=$(python3 -c "import math; print('%.1f' % (400 * math.sqrt($n / 100)))")
    slots=$(( n * 4 > 150 ? n * 4 : 150 ))
    seed=
    for s in $(seq 1 20); do
        cat >"$dir/linkmodel.toml" <<EOF
seed = $s
mode = "mixer"
slots_per_round = $slots
n_tx = 3
payload_bytes = 100

[topology]
kind = "random"
devices = $n
area_m = $area
seed = $s

[phy]
preset = "ble2m"
EOF
        # mixer_stats builds (and so validates: connected) the link model.
        if "$root/target/release/examples/mixer_stats" "$dir/linkmodel.toml" 50 >"$dir/flood.txt" 2>&1; then
            seed=$s
            break
        fi
    done
    if [ -z "$seed" ]; then
        echo "$n devices: no connected topology with seeds 1..20 in a ${area} m square; skipped"
        continue
    fi
    flood_us=$(sed -n 's/.*, \([0-9.]*\) µs per round.*/\1/p' "$dir/flood.txt")
    cat >"$dir/experiment.toml" <<EOF
name = "scale-$n"

[dataset]
train = "$root/data/GunPoint/GunPoint_TRAIN.ts"
test = "$root/data/GunPoint/GunPoint_TEST.ts"

[model]
num_features = 10000
input = "f32"

[training]
devices = $n
epochs = $epochs
batch_size = 16
optimizer = "adam"
learning_rate = 0.001
seed = 0

[network]
linkmodel = "linkmodel.toml"
missing = "zero"
EOF
    relay_cpu_poller "$dir/runs" "$dir/relay_cpu.txt" &
    poller=$!
    status=0
    ROCKNET__NETWORK__TIME_SCALE=0 timeout "$limit_s" "$root/target/release/rocknet" run "$dir/experiment.toml" \
        --out "$dir/runs" --json >"$dir/run.json" 2>"$dir/run.log" || status=$?
    if [ "$status" -ne 0 ]; then
        kill "$poller" 2>/dev/null || true
        wait "$poller" 2>/dev/null || true
        if [ "$status" -eq 124 ]; then
            echo "$n devices: run exceeded ${limit_s} s and was stopped; skipped (flood model ${flood_us} µs/round)"
        else
            echo "$n devices: run failed (exit $status): $(tail -n 3 "$dir/run.log" | tr '\n' ' ')"
        fi
        continue
    fi
    wait "$poller"
    python3 - "$dir/run.json" "$(cat "$dir/relay_cpu.txt")" "$flood_us" "random:$seed" "$slots" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
relay_cpu_s, flood_us, topo, slots = float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rss = max(d["peak_rss_bytes"] or 0 for d in r["per_device"])
print("%-6d %-10s %-9s %-8d %-9.2f %-9.1f %-15.3f %-15s %-10.4f %-13.1f" % (
    r["devices"], topo, slots, r["rounds"], r["wall_seconds"], r["rounds_per_second"],
    1000 * relay_cpu_s / r["rounds"], flood_us, r["network"]["delivery_ratio"], rss / 2**20))
EOF
done
