#!/bin/bash
# capture.sh WORKLOAD OUTDIR
#
# Runs one mmreplay workload (traces/workloads/build/WORKLOAD) once and records
# the SAME run in several text formats:
#   instance A (tracefs)  -> trace_pipe.txt          (cat trace_pipe during the run)
#   instance B (tracefs)  -> trace.txt               (copy of the `trace` file after the run)
#                         -> trace.dat               (trace-cmd extract -B B)
#                         -> report.txt, report-l.txt, report-t.txt (trace-cmd report, -l, -t)
#   perf record -p PID    -> perf-script.txt, perf-script-F.txt (perf.data kept if < 1 MB)
# plus workload.out (stdout), formats/<system>/<event>/format, header_page,
# header_event, stats-A.txt / stats-B.txt (per-CPU ring buffer stats),
# perf-stats.txt (perf report --stats), meta.txt (provenance) and capture.log.
#
# Must run as root with tracefs at /sys/kernel/tracing.  Files over 1 MB are
# compressed with xz -9 (the uncompressed copy is removed).
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 WORKLOAD OUTDIR" >&2
	exit 2
fi
WORKLOAD=$1
OUTDIR=$2
HERE=$(cd "$(dirname "$0")" && pwd)
WLDIR=$(cd "$HERE/../workloads" && pwd)
BIN=$WLDIR/build/$WORKLOAD
T=/sys/kernel/tracing
A=mmr-cap-A-$$
B=mmr-cap-B-$$
IA=$T/instances/$A
IB=$T/instances/$B
BUF_KB=${MMREPLAY_BUF_KB:-65536}
CAT_PID=
PERF_PID=
WPID=

log() { echo "[capture $(date +%T.%N | cut -c1-12)] $*" | tee -a "$OUTDIR/capture.log" >&2; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$WPID" ] && kill -0 "$WPID" 2>/dev/null && kill -KILL "$WPID" 2>/dev/null
	[ -n "$PERF_PID" ] && kill -0 "$PERF_PID" 2>/dev/null && { kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null; }
	[ -n "$CAT_PID" ] && kill -0 "$CAT_PID" 2>/dev/null && { kill "$CAT_PID"; wait "$CAT_PID" 2>/dev/null; }
	for I in "$IA" "$IB"; do
		if [ -d "$I" ]; then
			echo 0 > "$I/tracing_on"
			echo > "$I/set_event" 2>/dev/null       # disable all events
			echo 0 > "$I/events/enable" 2>/dev/null
			echo > "$I/set_event_pid" 2>/dev/null
			rmdir "$I" || echo "capture: could not remove $I" >&2
		fi
	done
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || { echo "capture: must run as root" >&2; exit 1; }
[ -e $T/trace_marker ] || mount -t tracefs nodev $T
command -v trace-cmd >/dev/null || apt-get install -y trace-cmd >/dev/null
command -v perf >/dev/null || { echo "capture: perf not found" >&2; exit 1; }
make -s -C "$WLDIR" >/dev/null || { echo "capture: make failed" >&2; exit 1; }
[ -x "$BIN" ] || { echo "capture: no workload $BIN" >&2; exit 1; }

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
if [ -n "$(ls -A "$OUTDIR")" ]; then
	echo "capture: $OUTDIR is not empty (never overwrite a capture)" >&2
	exit 1
fi
: > "$OUTDIR/capture.log"

# ---- event list -------------------------------------------------------------
WANT="exceptions:page_fault_user kmem:mm_page_alloc kmem:mm_page_free kmem:rss_stat
task:task_newtask task:task_rename sched:sched_process_fork sched:sched_process_exit
sched:sched_process_exec sched:sched_process_free tlb:tlb_flush pagemap:mm_lru_insertion
migrate:* thp:* huge_memory:* ksm:* mmap_lock:*"
for s in mmap munmap mprotect madvise mremap brk clone clone3 fork vfork execve exit_group ioctl; do
	WANT="$WANT syscalls:sys_enter_$s syscalls:sys_exit_$s"
done
EVENTS=()
MISSING=()
for w in $WANT; do
	sys=${w%%:*}; ev=${w#*:}
	if [ "$ev" = "*" ]; then
		if [ -d "$T/events/$sys" ]; then
			for d in "$T/events/$sys"/*/; do
				d=${d%/}; [ -f "$d/enable" ] && EVENTS+=("$sys:$(basename "$d")")
			done
		else
			MISSING+=("$w")
		fi
	elif [ -f "$T/events/$sys/$ev/enable" ]; then
		EVENTS+=("$w")
	else
		MISSING+=("$w")
	fi
done
printf '%s\n' "${EVENTS[@]}" ftrace:print > "$OUTDIR/events-enabled.txt"
: > "$OUTDIR/events-missing.txt"
[ ${#MISSING[@]} -gt 0 ] && printf '%s\n' "${MISSING[@]}" > "$OUTDIR/events-missing.txt"
# perf cannot record ftrace:print (it accepts it but records nothing)
PERF_EVENTS=$(IFS=,; echo "${EVENTS[*]}")

# ---- instances -----------------------------------------------------------------
for I in "$IA" "$IB"; do
	mkdir "$I" || exit 1
	echo 0 > "$I/tracing_on"                 # new instances start with tracing on
	echo mono > "$I/trace_clock"
	echo "$BUF_KB" > "$I/buffer_size_kb"
	echo 1 > "$I/options/event-fork"
	# do not take copies of writes to the top-level trace_marker (the workload
	# writes its checkpoints into each instance's own trace_marker)
	[ -f "$I/options/copy_trace_marker" ] && echo 0 > "$I/options/copy_trace_marker"
	echo > "$I/trace"                          # clear
	for e in "${EVENTS[@]}"; do
		echo 1 > "$I/events/${e%%:*}/${e#*:}/enable" || log "could not enable $e in $I"
	done
done
log "instances $A $B ready: ${#EVENTS[@]} events, buffer_size_kb=$BUF_KB/cpu, clock mono"

# ---- provenance ------------------------------------------------------------------
{
	echo "workload: $WORKLOAD"
	echo "binary: $BIN"
	echo "binary_sha256: $(sha256sum "$BIN" | cut -d' ' -f1)"
	echo "source_sha256: $(sha256sum "$WLDIR/$WORKLOAD.c" | cut -d' ' -f1)"
	echo "header_sha256: $(sha256sum "$WLDIR/mmreplay_ckpt.h" | cut -d' ' -f1)"
	echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "uname: $(uname -a)"
	echo "trace_cmd: $(trace-cmd --version 2>&1 | grep -m1 version)"
	echo "perf: $(perf --version)"
	echo "cc: $(cc --version | head -1)"
	echo "nr_cpus_online: $(nproc)"
	echo "thp_enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
	echo "thp_defrag: $(cat /sys/kernel/mm/transparent_hugepage/defrag)"
	echo "instances: A=$A B=$B"
	echo "trace_clock: mono (perf: -k CLOCK_MONOTONIC)"
	echo "buffer_size_kb: $BUF_KB"
	echo "marker: MMREPLAY_MARKER=$IA/trace_marker:$IB/trace_marker (one write(2) per instance)"
} > "$OUTDIR/meta.txt"

# ---- formats -------------------------------------------------------------------
for e in "${EVENTS[@]}" ftrace:print; do
	mkdir -p "$OUTDIR/formats/${e%%:*}/${e#*:}"
	cat "$T/events/${e%%:*}/${e#*:}/format" > "$OUTDIR/formats/${e%%:*}/${e#*:}/format"
done
cat $T/events/header_page > "$OUTDIR/formats/header_page"
cat $T/events/header_event > "$OUTDIR/formats/header_event"

# ---- run -----------------------------------------------------------------------
MMREPLAY_MARKER=$IA/trace_marker:$IB/trace_marker "$BIN" > "$OUTDIR/workload.out" 2> "$OUTDIR/workload.err" &
WPID=$!
for _ in $(seq 200); do
	grep -q '^MMREPLAY_PID ' "$OUTDIR/workload.out" 2>/dev/null && break
	sleep 0.01
done
PID=$(sed -n 's/^MMREPLAY_PID \([0-9]*\)$/\1/p' "$OUTDIR/workload.out" | head -1)
if [ -z "$PID" ] || [ "$PID" != "$WPID" ]; then
	log "workload did not print MMREPLAY_PID (got '$PID', expected $WPID)"
	exit 1
fi
echo "workload_pid: $PID" >> "$OUTDIR/meta.txt"
for I in "$IA" "$IB"; do echo "$PID" > "$I/set_event_pid"; done

cat "$IA/trace_pipe" > "$OUTDIR/trace_pipe.txt" &
CAT_PID=$!
PERF_CMD=(perf record -q -k CLOCK_MONOTONIC -m 2048 -e "$PERF_EVENTS" -p "$PID" -o "$OUTDIR/perf.data")
echo "perf_cmd: perf record -q -k CLOCK_MONOTONIC -m 2048 -e <events-enabled.txt minus ftrace:print, comma separated> -p $PID -o perf.data" >> "$OUTDIR/meta.txt"
"${PERF_CMD[@]}" 2> "$OUTDIR/perf-record.err" &
PERF_PID=$!
sleep 0.5                                   # let perf attach
kill -0 "$PERF_PID" 2>/dev/null || { log "perf record died: $(cat "$OUTDIR/perf-record.err")"; exit 1; }
echo 1 > "$IA/tracing_on"
echo 1 > "$IB/tracing_on"
log "tracing on, sending SIGUSR1 to $PID"
kill -USR1 "$PID"
wait "$WPID"
WRC=$?
WPID=
echo "workload_exit: $WRC" >> "$OUTDIR/meta.txt"
log "workload exited rc=$WRC"
sleep 0.3
echo 0 > "$IA/tracing_on"
echo 0 > "$IB/tracing_on"
kill -INT "$PERF_PID"; wait "$PERF_PID"; log "perf record rc=$?"; PERF_PID=
# drain trace_pipe: wait until the output stops growing, then stop cat
prev=-1
for _ in $(seq 100); do
	sz=$(stat -c %s "$OUTDIR/trace_pipe.txt")
	[ "$sz" = "$prev" ] && break
	prev=$sz; sleep 0.2
done
kill "$CAT_PID"; wait "$CAT_PID" 2>/dev/null; CAT_PID=

for I in A B; do
	d=$T/instances/$(eval echo \$$I)
	for c in "$d"/per_cpu/cpu*; do echo "== $(basename "$c")"; cat "$c/stats"; done > "$OUTDIR/stats-$I.txt"
done
cat "$IB/trace" > "$OUTDIR/trace.txt"

# ---- trace-cmd -------------------------------------------------------------------
( cd "$OUTDIR" && trace-cmd extract -B "$B" -o trace.dat ) > "$OUTDIR/trace-cmd-extract.log" 2>&1 \
	|| log "trace-cmd extract failed"
trace-cmd report -i "$OUTDIR/trace.dat" > "$OUTDIR/report.txt" 2> "$OUTDIR/trace-cmd-report.err"
trace-cmd report -l -i "$OUTDIR/trace.dat" > "$OUTDIR/report-l.txt" 2>> "$OUTDIR/trace-cmd-report.err"
trace-cmd report -t -i "$OUTDIR/trace.dat" > "$OUTDIR/report-t.txt" 2>> "$OUTDIR/trace-cmd-report.err"
# trace-cmd 3.1.6 extract also reads (and consumes) the top-level buffer; say
# whether anything from it ended up in the report (lines not prefixed "$B:")
echo "report_lines_not_from_instance_B: $(grep -v -c -e "^ *$B: " -e '^cpus=' "$OUTDIR/report.txt")" >> "$OUTDIR/meta.txt"

# ---- perf script ------------------------------------------------------------------
perf script -i "$OUTDIR/perf.data" > "$OUTDIR/perf-script.txt" 2> "$OUTDIR/perf-script.err"
perf script -F comm,pid,tid,cpu,time,event,trace -i "$OUTDIR/perf.data" > "$OUTDIR/perf-script-F.txt" 2>> "$OUTDIR/perf-script.err"
perf report -i "$OUTDIR/perf.data" --stats > "$OUTDIR/perf-stats.txt" 2>> "$OUTDIR/perf-script.err"

# ---- size policy -------------------------------------------------------------------
if [ "$(stat -c %s "$OUTDIR/perf.data")" -ge 1048576 ]; then
	log "perf.data is $(stat -c %s "$OUTDIR/perf.data") bytes, not kept"
	rm -f "$OUTDIR/perf.data"
fi
rm -f "$OUTDIR/perf.data.old"
for f in "$OUTDIR"/*; do
	[ -f "$f" ] || continue
	case $f in *.xz) continue ;; esac
	if [ "$(stat -c %s "$f")" -ge 1048576 ]; then
		log "compressing $(basename "$f") ($(stat -c %s "$f") bytes)"
		xz -9 "$f"
	fi
done
# remove empty stderr logs
for f in workload.err perf-record.err perf-script.err trace-cmd-report.err; do
	[ -s "$OUTDIR/$f" ] || rm -f "$OUTDIR/$f"
done
log "done: $OUTDIR"
exit 0
