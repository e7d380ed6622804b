#!/usr/bin/env bash
# `npm run bench:lab`: how often the replay gives the kernel's result on the committed lab records,
# per probe set and per form of the trace (bench/lab-agreement.ts says how each is compared).
set -euo pipefail
cd "$(dirname "$0")/.."
# run LABEL ARGS...: one comparison, its per-run lines and total.
run() { echo "== $1"; shift; node --import tsx bench/lab-agreement.ts "$@" | grep -E '^(traces|all)'; }
C=(traces/lab/6.12-r3/race-*/C)
run "sets A, B (6.12-r2) and C (6.12-r3), in place" traces/lab/6.12-r2/race-*/B traces/lab/6.12-r2/race-*/A "${C[@]}"
run "set C, the text alone" --alone "${C[@]}"
run "sets A and C, their trace-cmd reports alone (addresses)" --alone --file report.txt.xz traces/lab/6.12-r2/race-*/A "${C[@]}"
# Fewer probes: set C's traces with some of their events left out (what a user who probed less
# would have recorded).
run "set C without GUP probes" --drop gup_in,gup_out "${C[@]}"
run "set C without walk probes" --drop walk_in,walk_out,excl_vma,excl_vma_done "${C[@]}"
run "set C's reports alone without walk probes" --alone --file report.txt.xz --drop walk_in,walk_out,excl_vma,excl_vma_done "${C[@]}"
KPROBES=gup_in,gup_out,walk_in,walk_out,excl_vma,excl_vma_done,pg_unlock,pg_lock_slow,flt_enter,flt_exit,flt_swapin,flt_wp,unexcl,zap_range,notif_start,mirror_inval,mirror_read,prot_change,uffd_wp,mig_unmap,mig_remap,rcl_unmap,cold_pte,swp_out,ksm_wrprot,ksm_merge
run "set C: call probes, syscalls and tracepoints" --drop "$KPROBES" "${C[@]}"
run "set C: call probes, syscalls and tracepoints but tlb_flush and mm_page_free" --drop "$KPROBES,tlb_flush,mm_page_free" "${C[@]}"
