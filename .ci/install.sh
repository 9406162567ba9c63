#!/usr/bin/env bash
# Installs the third-party tools the interop tests drive. Idempotent; safe on a fresh machine.
set -euo pipefail
if ! python3 -c 'import libtorrent' 2>/dev/null; then
  pip install --quiet libtorrent==2.1.1
fi
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
