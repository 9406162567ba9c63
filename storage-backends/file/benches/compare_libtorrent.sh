#!/bin/bash
# Re-check throughput, swarmfs file backend vs libtorrent (hashing_threads=2), interleaved per
# payload and cache state, through the perf lab's hashcheck.py (../shared/bench) so that both
# are timed by the same harness (swarmfs runs as its "custom" client; its figure is whole-process
# wall time, libtorrent's check_MiB_s is in-process). Cold runs need root.
#   usage: RUNS=5 storage-backends/file/benches/compare_libtorrent.sh [path/to/shared/bench]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
bench=${1:-$repo/../shared/bench}
cargo bench --manifest-path "$repo/Cargo.toml" -p swarmfs-file --bench recheck --no-run
bin=$(ls -t "$repo"/target/release/deps/recheck-* | grep -v '\.d$' | head -1)
export CUSTOM_CHECK_CMD="$bin --torrent {torrent} --save {save}"
RUNS=${RUNS:-3}
cd "$bench"
python3 make_payload.py single1g-256k multi100x10m-256k
for payload in single1g-256k multi100x10m-256k; do
  for cache in warm cold; do
    echo "== $payload $cache $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    python3 hashcheck.py --client custom --payload $payload --runs "$RUNS" --cache $cache \
      --tag swarmfs-$payload-$cache | tail -1
    LT_EXTRA="--set hashing_threads=2" python3 hashcheck.py --client lt --payload $payload \
      --runs "$RUNS" --cache $cache --tag lt2-$payload-$cache | tail -1
  done
done
