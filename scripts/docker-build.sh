#!/usr/bin/env bash
# Builds the static `rocknet` binary (x86_64-unknown-linux-musl) and the
# `rocknet:latest` image (FROM scratch) that docker-compose.yml runs.
#   scripts/docker-build.sh && docker compose up
set -euo pipefail
cd "$(dirname "$0")/.."
die() { printf 'docker-build: %s\n' "$*" >&2; exit 1; }

target=x86_64-unknown-linux-musl
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target" || die "cannot add the $target target (rustup target add $target)"
fi
# zstd's C code needs a C compiler for musl (Debian: musl-tools).
command -v x86_64-linux-musl-gcc >/dev/null ||
  die "x86_64-linux-musl-gcc is missing: apt-get install -y --no-install-recommends musl-tools (cargo xtask setup installs it)"
cargo build --release --locked --target "$target" --bin rocknet
# Wherever cargo puts its output (CARGO_TARGET_DIR, or target/).
out="${CARGO_TARGET_DIR:-target}"
bin="$out/$target/release/rocknet"

# FROM scratch has no loader or libc: the binary must be static.
if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
  ldd "$bin" >&2
  die "$bin is dynamically linked; it cannot run FROM scratch"
fi

ctx="$out/docker-context"
rm -rf "$ctx" && mkdir -p "$ctx"
cp "$bin" "$ctx/rocknet"
strip "$ctx/rocknet" 2>/dev/null || true
docker build --quiet -t rocknet:latest -f Dockerfile "$ctx" >/dev/null
printf 'rocknet:latest built (%s bytes of binary)\n' "$(stat -c %s "$ctx/rocknet")"
