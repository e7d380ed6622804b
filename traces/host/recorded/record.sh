#!/usr/bin/env bash
# Records every workload with `mmreplay record` (preset mm): trace text, sidecar JSON with the
# events' format files and per-CPU stats, and the workload's own stdout (its pagemap checkpoints).
# Usage (root, tracefs mounted): traces/host/recorded/record.sh [WORKLOAD...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
make -s -C "$root/traces/workloads"
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(anon fork_cow dontneed mprotect mremap threads thp filemap migrate swap collapse)
# The swap workload needs swap: a 256 MiB swapfile for the run, where the machine has none.
swapfile=""
cleanup() { if [ -n "$swapfile" ]; then swapoff "$swapfile"; rm -f "$swapfile"; fi; }
trap cleanup EXIT
if [[ " ${workloads[*]} " == *" swap "* ]] && [ "$(wc -l < /proc/swaps)" -le 1 ]; then
  swapfile=/var/tmp/mmreplay-record.swap
  fallocate -l 256M "$swapfile" && chmod 600 "$swapfile" && mkswap -q "$swapfile" && swapon "$swapfile"
fi
for w in "${workloads[@]}"; do
  out="$here/$w"
  rm -rf "$out" && mkdir -p "$out"
  "$root/bin/mmreplay.js" record -e mm -o "$out/trace.txt" -- "$root/traces/workloads/build/$w" > "$out/workload.out"
  for f in "$out"/*; do
    if [ "$(stat -c %s "$f")" -gt 1000000 ]; then xz -9 "$f"; fi
  done
  echo "$w: $(ls "$out" | tr '\n' ' ')"
done
