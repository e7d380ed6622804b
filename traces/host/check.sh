#!/bin/bash
# check.sh OUTDIR - sanity checks of one capture made by capture.sh
# (non-empty outputs, every checkpoint present in every text format, no lost
# events).  Prints one line per check and exits 1 if any check failed.
set -u
D=$1
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
cat_any() { if [ -f "$1" ]; then cat "$1"; elif [ -f "$1.xz" ]; then xz -dc "$1.xz"; else return 1; fi; }

grep -q '^workload_exit: 0$' "$D/meta.txt" && ok "workload exit 0" || bad "workload exit status"
N=$(grep -c '^MMREPLAY_CKPT ' "$D/workload.out")
[ "$N" -gt 0 ] && ok "workload.out: $N checkpoints" || bad "workload.out has no checkpoints"
NB=$(grep '^MMREPLAY_CKPT ' "$D/workload.out" | sed 's/.* pid=\([0-9]*\) .*clock_ns=\([0-9]*\) .*/\1 \2/' | sort -u | wc -l)
for f in trace_pipe.txt trace.txt report.txt report-l.txt report-t.txt perf-script.txt perf-script-F.txt; do
	n=$(cat_any "$D/$f" | wc -l)
	[ "$n" -gt 0 ] && ok "$f: $n lines" || bad "$f missing or empty"
done
for f in trace_pipe.txt trace.txt report.txt report-l.txt report-t.txt; do
	m=$(cat_any "$D/$f" | grep -c 'MMREPLAY_CKPT v=1')
	[ "$m" = "$N" ] && ok "$f: $m/$N checkpoint markers" || bad "$f: $m/$N checkpoint markers"
	# each marker line must be complete (ends with the last page entry, not truncated)
	l=$(cat_any "$D/$f" | grep -o 'MMREPLAY_CKPT v=1 .*' | sed 's/\\n$//' | sort | md5sum)
	w=$(grep '^MMREPLAY_CKPT ' "$D/workload.out" | sort | md5sum)
	[ "$l" = "$w" ] && ok "$f: marker text identical to workload.out" || bad "$f: marker text differs from workload.out"
done
for f in perf-script.txt perf-script-F.txt; do
	m=$(cat_any "$D/$f" | grep 'sys_enter_ioctl' | grep -c 'cmd: 0x4d4d5250')
	[ "$m" = "$NB" ] && ok "$f: $m/$NB checkpoint beacons (ioctl)" || bad "$f: $m/$NB beacons"
done
for f in trace_pipe.txt trace.txt report.txt report-l.txt report-t.txt perf-script.txt perf-script-F.txt; do
	cat_any "$D/$f" | grep -q 'LOST' && bad "$f has LOST lines" || ok "$f: no LOST"
done
for s in stats-A.txt stats-B.txt; do
	o=$(grep -E '^(overrun|commit overrun|dropped events):' "$D/$s" | awk -F: '{s+=$2} END {print s+0}')
	[ "$o" = 0 ] && ok "$s: overrun/commit overrun/dropped all 0" || bad "$s: lost $o"
done
h=$(grep -m1 'entries-in-buffer/entries-written' "$D/trace.txt" | sed 's/.*written: \([0-9]*\)\/\([0-9]*\).*/\1 \2/')
set -- $h
[ "${1:-x}" = "${2:-y}" ] && ok "trace.txt header entries-in-buffer/entries-written $1/$2" || bad "trace.txt header $h"
grep -q 'LOST' "$D/perf-stats.txt" && bad "perf-stats.txt reports LOST" || ok "perf-stats.txt: no LOST"
# every write touch must show up as a page fault at that address (first touch of a page)
nt=$(grep -c '^MMREPLAY_TOUCH' "$D/workload.out")
nf=$(cat_any "$D/trace.txt" | grep -c 'page_fault_user:')
ok "touches=$nt page_fault_user(trace.txt)=$nf"
exit $fail
