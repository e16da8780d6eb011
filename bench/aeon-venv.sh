# Sourced by the bench scripts that compare with aeon 1.6 (the MiniRocket
# reference): `aeon_python` makes the venv on first use (target/aeon-venv, or
# $ROCKNET_AEON_VENV; needs python3 with venv and pip access to PyPI) and
# prints its python. aeon is never a test dependency.
aeon_version=1.6.0
aeon_python() {
  local venv=${ROCKNET_AEON_VENV:-target/aeon-venv}
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import aeon, sys; sys.exit(aeon.__version__ != '$aeon_version')" 2>/dev/null; then
    echo "installing aeon $aeon_version into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet "aeon==$aeon_version" >&2
  fi
  echo "$venv/bin/python"
}
