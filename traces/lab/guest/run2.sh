#!/bin/sh
# mmreplay kernel lab, 6.12-r2 recording: runs INSIDE the QEMU guest (busybox
# sh), called by /init when lab.conf says RUN=run2.sh.
#
# Every workload is recorded into TWO tracefs instances at once:
#   instances/A: the stock events + probe set A (group `kprobes`, mder_*,
#                /kprobes-A.txt), saved like the first 6.12 set: trace text,
#                format files, filters, stats, trace-cmd extract .dat.
#   instances/B: the same stock events + probe set B (group `probe`, perf-probe
#                style, /kprobes-B.txt): trace text and stats, a /proc/kallsyms
#                copy (kallsyms.txt, read with kptr_restrict=0), no format
#                files, and a trace-cmd extract .dat taken while an empty
#                file is bind-mounted over /proc/kallsyms (its kallsyms
#                section is empty, so kprobe IPs resolve only through
#                kallsyms.txt).
# Both probe sets are defined in kprobe_events together (global); each
# instance enables only its own group, with its own per-event filters.
# The race program writes its trace_marker lines into both instances
# (RACE_MARKERS=<A trace_marker>:<B trace_marker>).
# Results: $OUT/<workload>/{A,B}/ ; global files in $OUT.
# PROBE_SETS (default "A B") names the probe sets, one tracefs instance each,
# defined in /kprobes-<set>.txt. A set file may say "# GROUP: <group>" (else
# A -> kprobes, B -> probe) and may come with /events-<set>.txt (the stock
# events and syscalls:* events of that instance, one per line, instead of
# STOCK_EVENTS and SYSCALLS). Sets named in HIDE_KALLSYMS_SETS (default "B")
# are extracted with /proc/kallsyms hidden and get a kallsyms.txt; the others
# get formats/ and a .dat with kallsyms (set A's treatment). The 6.12-r3
# record runs PROBE_SETS=C.
# Environment (from /init, read from lab.conf): OUT, RACE_CALLS, RACE_SEED,
# RACE_MODES, RACE_SIZES, HMM_TESTS, BUFFER_KB, NOSYS_MODES, RACE_CALLS_<mode>,
# RACE_SIZES_<mode>.
set -u
T=/sys/kernel/tracing
OUT=${OUT:-/out}
BUFFER_KB=${BUFFER_KB:-65536}
RACE_CALLS=${RACE_CALLS:-20}
RACE_SEED=${RACE_SEED:-12345}
RACE_SIZES=${RACE_SIZES:-1,16,64,256}
RACE_MODES=${RACE_MODES:-"none dontneed uffd_wp migrate pageout writer two_req ksm"}
NOSYS_MODES=${NOSYS_MODES-dontneed}
HMM_TESTS=${HMM_TESTS:-}
PROBE_SETS=${PROBE_SETS:-"A B"}
HIDE_KALLSYMS_SETS=${HIDE_KALLSYMS_SETS-B}

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
pagemap:mm_lru_insertion
vmscan:*
ksm:*"
SYSCALLS="mmap munmap mprotect madvise mremap brk clone clone3 fork vfork execve exit_group ioctl move_pages userfaultfd"

group_of() {
	g=$(sed -n 's/^# GROUP: *//p' /kprobes-$1.txt | head -1)
	if [ -z "$g" ]; then case $1 in A) g=kprobes ;; B) g=probe ;; *) g=kprobes ;; esac; fi
	echo $g
}
hot_of() { sed -n 's/^# HOT (comm-filtered per workload): //p' /kprobes-$1.txt; }
hidden() { case " $HIDE_KALLSYMS_SETS " in *" $1 "*) return 0 ;; esac; return 1; }

setup_kprobes() {
	echo > $T/kprobe_events
	: > $OUT/kprobe_events.failed
	for s in $PROBE_SETS; do grep -v '^#' /kprobes-$s.txt; done | while IFS= read -r line; do
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

# setup_instance NAME GROUP HOTLIST FILTER SYSCALLS(0|1)
setup_instance() {
	inst=$1; grp=$2; hot=$3; filt=$4; sys=$5
	I=$T/instances/$inst
	[ -d $I ] && rmdir $I
	mkdir $I || { log "cannot create instance $inst"; return 1; }
	echo 0 > $I/tracing_on
	echo mono > $I/trace_clock
	echo $BUFFER_KB > $I/buffer_size_kb
	echo > $I/set_event
	evlist=$STOCK_EVENTS
	[ -f /events-$inst.txt ] && evlist=$(grep -v '^#' /events-$inst.txt | grep -v '^syscalls:')
	echo "$evlist" | while IFS= read -r ev; do
		[ -n "$ev" ] || continue
		echo "$ev" >> $I/set_event 2>/dev/null || log "event missing: $ev"
	done
	if [ "$sys" = 1 ] && [ -f /events-$inst.txt ]; then
		grep '^syscalls:' /events-$inst.txt | while IFS= read -r ev; do
			echo "$ev" >> $I/set_event 2>/dev/null || log "event missing: $ev"
		done
	elif [ "$sys" = 1 ]; then
		for s in $SYSCALLS; do
			for d in enter exit; do
				if [ -d $I/events/syscalls/sys_${d}_$s ]; then
					echo "syscalls:sys_${d}_$s" >> $I/set_event
				else
					log "no syscalls:sys_${d}_$s"
				fi
			done
		done
	fi
	for h in $hot; do
		[ -d $I/events/$grp/$h ] && echo "$filt" > $I/events/$grp/$h/filter
	done
	echo 1 > $I/events/$grp/enable
	for h in $hot; do
		[ -f $I/events/$grp/$h/filter ] && echo "$h: $(cat $I/events/$grp/$h/filter)"
	done > $CUR/$inst/filters.txt
	cat $I/set_event > $CUR/$inst/set_event.txt
	echo "buffer_size_kb=$(cat $I/buffer_size_kb) trace_clock=$(cat $I/trace_clock) syscalls=$sys group=$grp" > $CUR/$inst/instance.txt
}

save_formats() {
	I=$1; dir=$2
	mkdir -p $dir/formats
	cp $T/events/header_page $T/events/header_event $dir/formats/ 2>/dev/null
	sed 's/:/ /' $I/set_event | while read -r sys ev; do
		mkdir -p $dir/formats/$sys/$ev
		cat $I/events/$sys/$ev/format > $dir/formats/$sys/$ev/format
	done
}

save_instance() {
	inst=$1; dir=$CUR/$inst; I=$T/instances/$inst
	for c in $I/per_cpu/cpu*; do
		echo "== $(basename $c)"
		cat $c/stats
	done > $dir/stats.txt
	echo "buffer_size_kb=$(cat $I/buffer_size_kb) trace_clock=$(cat $I/trace_clock)" >> $dir/stats.txt
	cat $T/kprobe_profile > $dir/kprobe_profile.txt
	cp $OUT/kprobe_events $dir/kprobe_events
	cat $I/trace | gzip -1 > $dir/trace.txt.gz
}

# run_workload NAME COMM_FILTER INSTANCES SYSCALLS(0|1) CMD...
run_workload() {
	name=$1; filt=$2; insts=$3; sys=$4; shift 4
	CUR=$OUT/$name
	mkdir -p $CUR
	log "=== workload $name (instances $insts, syscalls $sys, filter $filt): $*"
	for i in $PROBE_SETS; do [ -d $T/instances/$i ] && rmdir $T/instances/$i; done
	setup_kprobes   # re-register: resets kprobe_profile hit/miss counters
	markers=""
	for i in $insts; do
		mkdir -p $CUR/$i
		setup_instance $i "$(group_of $i)" "$(hot_of $i)" "$filt" $sys
		hidden $i || save_formats $T/instances/$i $CUR/$i
		echo "$*" > $CUR/$i/command.txt
		markers="$markers${markers:+:}$T/instances/$i/trace_marker"
	done
	t0=$(date +%s)
	for i in $insts; do echo 1 > $T/instances/$i/tracing_on; done
	RACE_MARKERS=$markers "$@" > $CUR/stdout.log 2> $CUR/stderr.log
	rc=$?
	for i in $insts; do echo 0 > $T/instances/$i/tracing_on; done
	t1=$(date +%s)
	log "$name exit=$rc in $((t1 - t0)) s"
	for i in $insts; do
		echo "exit=$rc seconds=$((t1 - t0))" > $CUR/$i/exit.txt
		cp $CUR/stdout.log $CUR/stderr.log $CUR/$i/
		save_instance $i
	done
	rm -f $CUR/stdout.log $CUR/stderr.log
	# trace-cmd extract -B consumes the instance's buffer and removes the
	# instance, so it runs after the text was saved.
	for i in $insts; do
		hidden $i && continue
		(cd $CUR/$i && trace-cmd extract -B $i -o trace.dat > extract.log 2>&1) || log "extract $i failed"
	done
	for i in $insts; do
		hidden $i || continue
		echo 0 > /proc/sys/kernel/kptr_restrict
		cat /proc/kallsyms > $CUR/$i/kallsyms.txt
		# Hide kallsyms from the extract, so that the .dat's kallsyms
		# section is empty. kptr_restrict=2 does not do it: trace-cmd
		# (libtracefs) writes 0 to kptr_restrict itself before it reads
		# /proc/kallsyms. An empty file bind-mounted over it does.
		: > /tmp/empty-kallsyms
		mount -o bind /tmp/empty-kallsyms /proc/kallsyms || log "bind mount over /proc/kallsyms failed"
		echo "kallsyms hidden for the extract: /proc/kallsyms lines visible: $(wc -l < /proc/kallsyms)" > $CUR/$i/extract.log
		(cd $CUR/$i && trace-cmd extract -B $i -o trace.dat >> extract.log 2>&1) || log "extract $i failed"
		umount /proc/kallsyms || log "umount /proc/kallsyms failed"
		echo "after: /proc/kallsyms lines visible: $(wc -l < /proc/kallsyms)" >> $CUR/$i/extract.log
	done
	for i in $PROBE_SETS; do [ -d $T/instances/$i ] && rmdir $T/instances/$i; done
	ls -laR $CUR | head -40
	free > $CUR/free_after.txt
	[ -f /sys/kernel/mm/ksm/pages_shared ] && for f in /sys/kernel/mm/ksm/*; do
		[ -f $f ] && echo "$(basename $f) $(cat $f)"
	done > $CUR/ksm_after.txt
	cat /proc/swaps > $CUR/swaps_after.txt
	grep -E 'pswp|pgmigrate|numa_|pgsteal|pgscan|ksm|thp_' /proc/vmstat > $CUR/vmstat_after.txt
}

mkdir -p $OUT
uname -a > $OUT/uname.txt
cat /proc/cmdline > $OUT/cmdline.txt
grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -x la57 > $OUT/la57.txt
cat /sys/kernel/mm/transparent_hugepage/enabled > $OUT/thp_enabled.txt
ls -la /dev/hmm_dmirror* > $OUT/devices.txt 2>&1
ls -d /sys/devices/system/node/node* > $OUT/numa.txt 2>&1
for n in /sys/devices/system/node/node*; do echo "$(basename $n): cpus $(cat $n/cpulist) $(grep MemTotal $n/meminfo)"; done >> $OUT/numa.txt
echo 0 > /proc/sys/kernel/kptr_restrict
echo 0 > $T/tracing_on   # top-level buffer unused

# swap on the second virtio disk (pageout)
if [ -b /dev/vdb ]; then
	mkswap /dev/vdb > $OUT/swap.txt 2>&1 && swapon /dev/vdb >> $OUT/swap.txt 2>&1
	cat /proc/swaps >> $OUT/swap.txt
	log "swap: $(tail -1 /proc/swaps)"
else
	log "no /dev/vdb: no swap"
fi

setup_kprobes
echo 8192 > $T/saved_cmdlines_size
cat $T/available_events > $OUT/available_events.txt

# Format file of every event the kernel offers (both probe sets registered).
mkdir -p /tmp/allfmt/events
cp $T/events/header_page $T/events/header_event /tmp/allfmt/events/
for f in $T/events/*/*/format; do
	d=${f#$T/}; d=${d%/format}
	mkdir -p /tmp/allfmt/$d
	cat $f > /tmp/allfmt/$d/format
done
(cd /tmp/allfmt && tar cf $OUT/all-formats.tar events)
rm -rf /tmp/allfmt
log "all formats: $(tar tf $OUT/all-formats.tar | grep -c /format$) format files"

for t in $HMM_TESTS; do
	run_workload hmm-$t 'comm == "hmm-tests"' "$PROBE_SETS" 1 /bin/hmm-tests -r hmm.hmm_device_private.$t
done
for m in $RACE_MODES; do
	calls=$(eval echo "\${RACE_CALLS_$m:-$RACE_CALLS}")
	sizes=$(eval echo "\${RACE_SIZES_$m:-$RACE_SIZES}")
	filt='comm == "race"'
	if [ $m = ksm ]; then
		echo 20 > /sys/kernel/mm/ksm/sleep_millisecs
		echo 512 > /sys/kernel/mm/ksm/pages_to_scan
		echo 1 > /sys/kernel/mm/ksm/run
		filt='comm == "race" || comm == "ksmd"'
	fi
	run_workload race-$m "$filt" "$PROBE_SETS" 1 /bin/race $m $calls $RACE_SEED $sizes
	if [ $m = ksm ]; then
		echo 2 > /sys/kernel/mm/ksm/run   # unmerge everything
		echo 0 > /sys/kernel/mm/ksm/run
	fi
done
for m in $NOSYS_MODES; do
	calls=$(eval echo "\${RACE_CALLS_nosys:-10}")
	run_workload race-$m-nosys 'comm == "race"' "$(echo $PROBE_SETS | awk '{print $NF}')" 0 /bin/race $m $calls $RACE_SEED $RACE_SIZES
done
dmesg > $OUT/dmesg.txt
free > $OUT/free.txt
log "all workloads done"
