#!/usr/bin/env bash
# Installs the third-party peers the interop tests drive. Idempotent; safe on a fresh machine.
# Interop tests print SKIP when a peer is missing, so a failed optional install never fails CI,
# but every install here is expected to succeed on a fresh machine of this project's kind.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import libtorrent' 2>/dev/null; then
  pip install --quiet --disable-pip-version-check libtorrent==2.1.1
fi

# bittorrent-dht (npm) as a DHT counterpart; --ignore-scripts: native addons are optional.
if command -v npm >/dev/null && [ ! -d crates/dht/tests/peers/node_modules/bittorrent-dht ]; then
  (cd crates/dht/tests/peers && npm install --ignore-scripts --no-audit --no-fund --silent) \
    || echo "WARN: npm install for crates/dht/tests/peers failed; bittorrent-dht interop will SKIP"
fi

# From Debian: nginx (an HTTP origin for the bridge tests), rtorrent (a watched engine),
# aria2 and transmission-cli (third-party peers for the engine interop tests).
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v rtorrent >/dev/null || missing+=(rtorrent)
command -v aria2c >/dev/null || missing+=(aria2)
command -v transmission-cli >/dev/null || missing+=(transmission-cli)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >/dev/null || echo "WARN: apt-get install ${missing[*]} failed; those interop tests will SKIP"
fi

rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt
