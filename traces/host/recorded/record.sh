#!/usr/bin/env bash
# Records every workload with `mmreplay record` (preset mm): trace text, sidecar JSON with the
# events' format files and per-CPU stats, and the workload's own stdout (its pagemap checkpoints).
# Usage (root, tracefs mounted): traces/host/recorded/record.sh [WORKLOAD...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
make -s -C "$root/traces/workloads"
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(anon fork_cow dontneed mprotect mremap threads thp filemap migrate swap collapse ksm)
# The swap workload needs swap: a 256 MiB swapfile for the run, where the machine has none.
# The ksm workload needs ksmd running, scanning fast; its knobs are put back afterwards.
swapfile=""
ksm=/sys/kernel/mm/ksm
ksm_saved="$(cat $ksm/run) $(cat $ksm/sleep_millisecs) $(cat $ksm/pages_to_scan)"
cleanup() {
  if [ -n "$swapfile" ]; then swapoff "$swapfile"; rm -f "$swapfile"; fi
  read -r run sleep scan <<< "$ksm_saved"
  echo "$run" > $ksm/run; echo "$sleep" > $ksm/sleep_millisecs; echo "$scan" > $ksm/pages_to_scan
}
trap cleanup EXIT
if [[ " ${workloads[*]} " == *" swap "* ]] && [ "$(wc -l < /proc/swaps)" -le 1 ]; then
  swapfile=/var/tmp/mmreplay-record.swap
  fallocate -l 256M "$swapfile" && chmod 600 "$swapfile" && mkswap -q "$swapfile" && swapon "$swapfile"
fi
for w in "${workloads[@]}"; do
  out="$here/$w"
  rm -rf "$out" && mkdir -p "$out"
  extra=()
  if [ "$w" = ksm ]; then
    echo 1 > $ksm/run; echo 10 > $ksm/sleep_millisecs; echo 1000 > $ksm/pages_to_scan
    extra=(--with-comm ksmd) # ksmd merges from its own context
  fi
  "$root/bin/mmreplay.js" record -e mm "${extra[@]}" -o "$out/trace.txt" -- "$root/traces/workloads/build/$w" > "$out/workload.out"
  for f in "$out"/*; do
    if [ "$(stat -c %s "$f")" -gt 1000000 ]; then xz -9 "$f"; fi
  done
  echo "$w: $(ls "$out" | tr '\n' ' ')"
done
