#!/bin/bash
# Re-check throughput, swarmfs file backend vs libtorrent (hashing_threads=2) and rqbit, interleaved
# per payload and cache state, through the perf lab's hashcheck.py (../shared/bench) so that all
# are timed by the same harness. swarmfs runs as its "custom" client: hashcheck.py reports its
# whole-process wall time (wall_MiB_s); this script also prints its in-process check time (the
# bench's "CHECK elapsed=" line, from PieceStore::open to the end of recheck) so that it can be
# compared with libtorrent's in-process check_MiB_s and rqbit's log-timestamp check_MiB_s.
# rqbit is skipped when $RQBIT (default ~/.cargo/bin/rqbit) is missing. Cold runs need root.
# The bench binary is looked up under $CARGO_TARGET_DIR (default: the workspace's target/).
#   usage: RUNS=5 storage-backends/file/benches/compare_libtorrent.sh [path/to/shared/bench]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
bench=${1:-$repo/../shared/bench}
lab=${PERFLAB_DIR:-/tmp/perflab}
cargo bench --manifest-path "$repo/Cargo.toml" -p swarmfs-file --bench recheck --no-run
target=${CARGO_TARGET_DIR:-$repo/target}
bin=$(ls -t "$target"/release/deps/recheck-* | grep -v '\.d$' | head -1)
export CUSTOM_CHECK_CMD="$bin --torrent {torrent} --save {save}"
export RQBIT=${RQBIT:-$HOME/.cargo/bin/rqbit}
RUNS=${RUNS:-3}
PAYLOADS=${PAYLOADS:-"single1g-256k multi100x10m-256k"}
CACHES=${CACHES:-"warm cold"}
cd "$bench"
python3 make_payload.py $PAYLOADS
in_process() { # median [min-max] of the swarmfs bench's own CHECK figures for a tag
  grep -ho 'CHECK elapsed=[0-9.]* MiB/s=[0-9]*' "$lab/runs/$1"/run*.log | sed 's/.*MiB\/s=//' | sort -n |
    awk '{v[NR]=$1} END {printf "in-process check MiB/s median %d [%d-%d] (n=%d)\n", v[int((NR+1)/2)], v[1], v[NR], NR}'
}
for payload in $PAYLOADS; do
  for cache in $CACHES; do
    echo "== $payload $cache $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    python3 hashcheck.py --client custom --payload $payload --runs "$RUNS" --cache $cache \
      --tag swarmfs-$payload-$cache | tail -1
    echo "swarmfs-$payload-$cache $(in_process swarmfs-$payload-$cache)"
    LT_EXTRA="--set hashing_threads=2" python3 hashcheck.py --client lt --payload $payload \
      --runs "$RUNS" --cache $cache --tag lt2-$payload-$cache | tail -1
    if [ -x "$RQBIT" ]; then
      python3 hashcheck.py --client rqbit --payload $payload --runs "$RUNS" --cache $cache \
        --tag rqbit-$payload-$cache | tail -1
    fi
  done
done
