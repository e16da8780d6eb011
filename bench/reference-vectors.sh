#!/usr/bin/env bash
# Regenerates MiniRocket's reference test vectors (docs/test-vectors.md) with
# the reference implementation, aeon's MiniRocket, in a Python venv of its
# own (bench/aeon-venv.sh: target/aeon-venv, or $ROCKNET_AEON_VENV). Needs python3 with
# venv and pip access to PyPI; a first run installs aeon and its dependencies
# (numpy, numba, scikit-learn, …), which takes minutes.
# Usage: bench/reference-vectors.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/aeon-venv.sh
python=$(aeon_python)
exec "$python" bench/reference_vectors.py
