#!/bin/bash
# capture-clocks.sh OUTDIR: one run of the `anon` workload recorded at once by five tracefs
# instances that differ only in trace_clock or output: mono (ns, the control), three clocks that
# count no ns, whose times tracefs prints as a bare count (kernel/trace/trace_output.c): x86-tsc
# (cycles), counter (a global sequence) and uptime (jiffies), and `latency` (mono, with
# options/latency-format: µs since the buffer's start, comms cut to 8). Writes trace-<name>.txt.xz
# (the `trace` file after the run), stats-<name>.txt (per-CPU ring buffer stats) and meta.txt. Root, tracefs
# mounted (it mounts it at /sys/kernel/tracing if not). The workload runs ungated (MMREPLAY_NOGATE=1).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
WLDIR=$(cd "$HERE/../workloads" && pwd)
BIN=$WLDIR/build/anon
T=/sys/kernel/tracing
CLOCKS="mono x86-tsc counter uptime latency"
EVENTS="exceptions:page_fault_user kmem:mm_page_alloc kmem:mm_page_free kmem:rss_stat
sched:sched_process_fork sched:sched_process_exit tlb:tlb_flush"
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
[ -z "$(ls -A "$OUT")" ] || { echo "capture: $OUT is not empty (never overwrite a capture)" >&2; exit 1; }
[ -e $T/trace_marker ] || mount -t tracefs nodev $T
make -s -C "$WLDIR" >/dev/null
inst() { echo "$T/instances/mmr-clock-$1-$$"; }
cleanup() {
	for c in $CLOCKS; do [ -d "$(inst $c)" ] && { echo 0 > "$(inst $c)/tracing_on"; echo > "$(inst $c)/set_event"; rmdir "$(inst $c)"; }; done
}
trap cleanup EXIT
for c in $CLOCKS; do
	I=$(inst $c)
	mkdir "$I"
	echo 0 > "$I/tracing_on"
	if [ "$c" = latency ]; then echo mono > "$I/trace_clock"; echo 1 > "$I/options/latency-format"
	else echo "$c" > "$I/trace_clock"; fi
	echo 16384 > "$I/buffer_size_kb"
	echo 1 > "$I/options/event-fork"
	for e in $EVENTS; do echo 1 > "$I/events/${e%%:*}/${e#*:}/enable"; done
	echo > "$I/trace"
done
{
	echo "workload: anon ($BIN, source_sha256 $(sha256sum "$WLDIR/anon.c" | cut -d' ' -f1))"
	echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "uname: $(uname -a)"
	echo "nr_cpus_online: $(nproc)"
	echo "instances: $(for c in $CLOCKS; do basename "$(inst $c)"; done | tr '\n' ' ')"
	echo "events: $(echo $EVENTS)"
	echo "traced: the shell that execs the workload (set_event_pid) and its children (event-fork)"
} > "$OUT/meta.txt"
# The shell traces itself from here on, and the workload it becomes.
MMREPLAY_NOGATE=1 sh -c "for c in $CLOCKS; do echo \$\$ > $T/instances/mmr-clock-\$c-$$/set_event_pid; echo 1 > $T/instances/mmr-clock-\$c-$$/tracing_on; done; exec \"\$0\"" "$BIN" > "$OUT/workload.out"
for c in $CLOCKS; do
	I=$(inst $c)
	echo 0 > "$I/tracing_on"
	cat "$I/trace" | xz -9 > "$OUT/trace-$c.txt.xz"
	cat "$I/per_cpu/cpu"*/stats > "$OUT/stats-$c.txt"
done
echo "capture: $(for c in $CLOCKS; do echo "$c $(xz -dc "$OUT/trace-$c.txt.xz" | grep -vc '^#')"; done | tr '\n' ' ')lines" >&2
