#!/bin/sh
# mmreplay kernel lab: runs INSIDE the QEMU guest (busybox sh), called by /init.
# Records every workload into the top-level tracefs buffer (no instance: the
# guest runs nothing else), writes results under $OUT/<workload>/.
# Environment (from /init, read from lab.conf): OUT, RACE_CALLS, RACE_SEED,
# RACE_MODES, HMM_TESTS, BUFFER_KB, RACE_CALLS_thp (and any RACE_CALLS_<mode>).
set -u
T=/sys/kernel/tracing
OUT=${OUT:-/out}
BUFFER_KB=${BUFFER_KB:-65536}
RACE_CALLS=${RACE_CALLS:-40}
RACE_SEED=${RACE_SEED:-12345}
RACE_MODES=${RACE_MODES:-"none dontneed fork_exit fork_write mprotect"}
HMM_TESTS=${HMM_TESTS:-"exclusive exclusive_mprotect exclusive_cow"}

log() { echo "LAB: $*"; }

STOCK_EVENTS="exceptions:page_fault_user
kmem:mm_page_alloc
kmem:mm_page_free
kmem:rss_stat
task:task_newtask
sched:sched_process_fork
sched:sched_process_exit
sched:sched_process_exec
sched:sched_process_free
tlb:tlb_flush
migrate:*
mmap_lock:*
pagemap:mm_lru_insertion"
SYSCALLS="mmap munmap mprotect madvise mremap brk clone clone3 fork vfork execve exit_group ioctl"

# Kprobe definitions come from /kprobes.txt (traces/lab/<version>/kprobes.txt);
# the line "# HOT (comm-filtered per workload): a b c" names the hot ones, which
# get a `comm == "<workload comm>"` filter.
KPROBES=$(grep -v '^#' /kprobes.txt)
HOT=$(sed -n 's/^# HOT (comm-filtered per workload): //p' /kprobes.txt)

setup_kprobes() {
	echo > $T/kprobe_events
	: > $OUT/kprobe_events.failed
	echo "$KPROBES" | while IFS= read -r line; do
		[ -n "$line" ] || continue
		if ! echo "$line" >> $T/kprobe_events; then
			log "kprobe REJECTED: $line"
			echo "$line" >> $OUT/kprobe_events.failed
		fi
	done
	cat $T/error_log > $OUT/kprobe_error_log 2>/dev/null
	cat $T/kprobe_events > $OUT/kprobe_events
	log "kprobes registered: $(wc -l < $T/kprobe_events)"
}

enable_events() {
	comm=$1
	echo "$STOCK_EVENTS" | while IFS= read -r ev; do
		echo "$ev" >> $T/set_event || log "event missing: $ev"
	done
	for s in $SYSCALLS; do
		for d in enter exit; do
			if [ -d $T/events/syscalls/sys_${d}_$s ]; then
				echo "syscalls:sys_${d}_$s" >> $T/set_event
			else
				log "no syscalls:sys_${d}_$s"
			fi
		done
	done
	for h in $HOT; do
		[ -d $T/events/kprobes/$h ] && echo "comm == \"$comm\"" > $T/events/kprobes/$h/filter
	done
	echo 1 > $T/events/kprobes/enable
}

save_formats() {
	dir=$1
	mkdir -p $dir/formats
	cp $T/events/header_page $T/events/header_event $dir/formats/ 2>/dev/null
	sed 's/:/ /' $T/set_event | while read -r sys ev; do
		mkdir -p $dir/formats/$sys/$ev
		cat $T/events/$sys/$ev/format > $dir/formats/$sys/$ev/format
	done
	for h in $HOT; do
		[ -f $T/events/kprobes/$h/filter ] && echo "$h: $(cat $T/events/kprobes/$h/filter)"
	done > $dir/filters.txt
}

run_workload() {
	name=$1; comm=$2; shift 2
	dir=$OUT/$name
	mkdir -p $dir
	log "=== workload $name (comm filter $comm): $*"
	echo 0 > $T/tracing_on
	echo > $T/set_event
	echo 0 > $T/events/kprobes/enable 2>/dev/null
	echo > $T/trace
	setup_kprobes   # re-register: resets kprobe_profile hit/miss counters
	echo mono > $T/trace_clock
	echo $BUFFER_KB > $T/buffer_size_kb
	enable_events "$comm"
	save_formats $dir
	cp $OUT/kprobe_events $dir/kprobe_events
	echo "$*" > $dir/command.txt
	t0=$(date +%s)
	echo 1 > $T/tracing_on
	"$@" > $dir/stdout.log 2> $dir/stderr.log
	rc=$?
	echo 0 > $T/tracing_on
	t1=$(date +%s)
	echo "exit=$rc seconds=$((t1 - t0))" > $dir/exit.txt
	log "$name exit=$rc in $((t1 - t0)) s"
	for c in $T/per_cpu/cpu*; do
		echo "== $(basename $c)"
		cat $c/stats
	done > $dir/stats.txt
	echo "buffer_size_kb=$(cat $T/buffer_size_kb) trace_clock=$(cat $T/trace_clock)" >> $dir/stats.txt
	cat $T/kprobe_profile > $dir/kprobe_profile.txt
	cat $T/trace | gzip -1 > $dir/trace.txt.gz
	# trace-cmd extract consumes the ring buffer, so it runs after `trace`.
	(cd $dir && trace-cmd extract -o trace.dat > extract.log 2>&1) || log "trace-cmd extract failed"
	ls -la $dir
	echo > $T/set_event
	echo 0 > $T/events/kprobes/enable
	for h in $HOT; do
		[ -d $T/events/kprobes/$h ] && echo 0 > $T/events/kprobes/$h/filter
	done
	echo > $T/trace
	echo 1 > $T/buffer_size_kb   # give the memory back between workloads
	free > $dir/free_after.txt
}

mkdir -p $OUT
uname -a > $OUT/uname.txt
cat /proc/cmdline > $OUT/cmdline.txt
grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -x la57 > $OUT/la57.txt
cat /sys/kernel/mm/transparent_hugepage/enabled > $OUT/thp_enabled.txt
ls -la /dev/hmm_dmirror* > $OUT/devices.txt 2>&1
cat $T/available_events > $OUT/available_events.txt
setup_kprobes
echo 8192 > $T/saved_cmdlines_size

for t in $HMM_TESTS; do
	run_workload hmm-$t hmm-tests /bin/hmm-tests -r hmm.hmm_device_private.$t
done
for m in $RACE_MODES; do
	# per-mode override: RACE_CALLS_<mode> (e.g. RACE_CALLS_thp=5)
	calls=$(eval echo "\${RACE_CALLS_$m:-$RACE_CALLS}")
	run_workload race-$m race /bin/race $m $calls $RACE_SEED
done
dmesg > $OUT/dmesg.txt
free > $OUT/free.txt
log "all workloads done"
