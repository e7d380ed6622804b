#!/usr/bin/env bash
# Records every workload with `mmreplay record` (preset mm): trace text, sidecar JSON with the
# events' format files and per-CPU stats, and the workload's own stdout (its pagemap checkpoints).
# Usage (root, tracefs mounted): traces/host/recorded/record.sh [WORKLOAD...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
make -s -C "$root/traces/workloads"
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(anon fork_cow dontneed mprotect mremap threads thp filemap migrate)
for w in "${workloads[@]}"; do
  out="$here/$w"
  rm -rf "$out" && mkdir -p "$out"
  "$root/bin/mmreplay.js" record -e mm -o "$out/trace.txt" -- "$root/traces/workloads/build/$w" > "$out/workload.out"
  for f in "$out"/*; do
    if [ "$(stat -c %s "$f")" -gt 1000000 ]; then xz -9 "$f"; fi
  done
  echo "$w: $(ls "$out" | tr '\n' ' ')"
done
