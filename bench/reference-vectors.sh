#!/usr/bin/env bash
# Regenerates MiniRocket's reference test vectors (docs/test-vectors.md) with
# the reference implementation, aeon's MiniRocket, in a Python venv of its
# own (target/reference-venv, or $ROCKNET_REFERENCE_VENV). Needs python3 with
# venv and pip access to PyPI; a first run installs aeon and its dependencies
# (numpy, numba, scikit-learn, …), which takes minutes.
# Usage: bench/reference-vectors.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${ROCKNET_REFERENCE_VENV:-target/reference-venv}
aeon_version=1.6.0
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import aeon, sys; sys.exit(aeon.__version__ != '$aeon_version')" 2>/dev/null; then
  echo "installing aeon $aeon_version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "aeon==$aeon_version"
fi
exec "$venv/bin/python" bench/reference_vectors.py
