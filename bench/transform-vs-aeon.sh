#!/usr/bin/env bash
# MiniRocket transform throughput, ours against aeon 1.6's MiniRocket (numba),
# both on one thread, f32 input, 10,000 requested features (9,996), fitted on
# FaceAll TRAIN with seed 0 and timed on all 1,690 series of FaceAll TEST.
# The two run alternately (`rounds` rounds each, default 3; a round
# transforms the test set `passes` times, default 5, after an untimed fit);
# the script prints every round's series/s, each side's median, and the
# ratio.
# aeon lives in a venv of its own (bench/aeon-venv.sh: target/aeon-venv, or $ROCKNET_AEON_VENV),
# made on first use (needs python3 with venv and pip access to PyPI); it is
# never a test dependency.
# Usage: bench/transform-vs-aeon.sh [rounds] [passes]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
passes=${2:-5}
source bench/aeon-venv.sh
python=$(aeon_python)
cargo build --release -q -p rocknet-core --example transform_throughput
train=data/FaceAll/FaceAll_TRAIN.txt
test=data/FaceAll/FaceAll_TEST.txt
ours=()
theirs=()
rate() { sed -n 's/.* = \([0-9]*\) series\/s.*/\1/p'; }
for r in $(seq 1 "$rounds"); do
  line=$(./target/release/examples/transform_throughput "$train" "$test" "$passes")
  echo "round $r ours: $line"
  ours+=("$(rate <<<"$line")")
  line=$(NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 "$python" bench/transform_aeon.py "$train" "$test" "$passes")
  echo "round $r aeon: $line"
  theirs+=("$(rate <<<"$line")")
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
ours = [float(v) for v in sys.argv[1].split()]
aeon = [float(v) for v in sys.argv[2].split()]
o, a = statistics.median(ours), statistics.median(aeon)
print(f"median series/s: ours {o:.0f}, aeon {a:.0f}; ratio ours/aeon = {o / a:.2f}")
PY
