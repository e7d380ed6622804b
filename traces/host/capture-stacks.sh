#!/bin/bash
# capture-stacks.sh OUTDIR: one run of the `dontneed` workload recorded by a tracefs instance with
# options/stacktrace and options/userstacktrace on: after each event, ftrace records the kernel
# stack and the user stack that led to it, printed as `<stack trace>` and `<user stack trace>`
# lines followed by ` => ` frame lines (kernel/trace/trace_output.c). Writes trace.txt.xz (the
# `trace` file after the run), report.txt.xz (`trace-cmd report` of the same buffer read out by
# `trace-cmd extract`; the .dat, 1.1 MB with its kallsyms, is not kept), stats.txt and meta.txt. Root, tracefs mounted (mounted here if not).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
WLDIR=$(cd "$HERE/../workloads" && pwd)
BIN=$WLDIR/build/dontneed
T=/sys/kernel/tracing
EVENTS="kmem:rss_stat exceptions:page_fault_user"
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
[ -z "$(ls -A "$OUT")" ] || { echo "capture: $OUT is not empty (never overwrite a capture)" >&2; exit 1; }
[ -e $T/trace_marker ] || mount -t tracefs nodev $T
make -s -C "$WLDIR" >/dev/null
NAME=mmr-stacks-$$
I=$T/instances/$NAME
cleanup() { [ -d "$I" ] && { echo 0 > "$I/tracing_on"; echo > "$I/set_event"; rmdir "$I"; }; true; }
trap cleanup EXIT
mkdir "$I"
echo 0 > "$I/tracing_on"
echo mono > "$I/trace_clock"
echo 16384 > "$I/buffer_size_kb"
echo 1 > "$I/options/event-fork"
echo 1 > "$I/options/stacktrace"
echo 1 > "$I/options/userstacktrace"
for e in $EVENTS; do echo 1 > "$I/events/${e%%:*}/${e#*:}/enable"; done
{
	echo "workload: dontneed ($BIN, source_sha256 $(sha256sum "$WLDIR/dontneed.c" | cut -d' ' -f1))"
	echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "uname: $(uname -a)"
	echo "trace_cmd: $(trace-cmd --version 2>&1 | grep -m1 version)"
	echo "instance: $NAME (trace_clock mono, options stacktrace userstacktrace event-fork)"
	echo "events: $EVENTS"
	echo "traced: the shell that execs the workload (set_event_pid) and its children (event-fork)"
} > "$OUT/meta.txt"
MMREPLAY_NOGATE=1 sh -c "echo \$\$ > $I/set_event_pid; echo 1 > $I/tracing_on; exec \"\$0\"" "$BIN" > "$OUT/workload.out"
echo 0 > "$I/tracing_on"
cat "$I/trace" | xz -9 > "$OUT/trace.txt.xz"
cat "$I/per_cpu/cpu"*/stats > "$OUT/stats.txt"
# trace-cmd extract removes the instance it reads.
(cd "$OUT" && trace-cmd extract -B "$NAME" -o trace.dat > /dev/null 2>&1)
trace-cmd report -i "$OUT/trace.dat" 2>/dev/null | xz -9 > "$OUT/report.txt.xz"
rm "$OUT/trace.dat"
echo "capture: $(xz -dc "$OUT/trace.txt.xz" | grep -vc '^#') lines of trace text" >&2
