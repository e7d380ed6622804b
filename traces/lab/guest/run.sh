#!/bin/sh
# mmreplay kernel lab: runs INSIDE the QEMU guest (busybox sh), called by /init.
# Records every workload into the top-level tracefs buffer (no instance: the
# guest runs nothing else), writes results under $OUT/<workload>/.
# Environment (from /init, read from lab.conf): OUT, RACE_CALLS, RACE_SEED,
# RACE_MODES, HMM_TESTS, BUFFER_KB.
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

# Kprobes. Hot ones get a comm filter per workload (see HOT below).
# Offsets (6.12 source, verified in traces/lab/README.md):
#   struct make_exclusive_args { mm @0; address @8; owner @16; bool valid @24 }
#   struct mmu_notifier_range { mm @0; start @8; end @16; unsigned flags @24; enum event @28; owner @32 }
#   struct vm_fault { vma @0; gfp_mask @8; pgoff @16; address @24; real_address @32; flags @40; pmd @48; pud @56; orig_pte @64 }
#   struct page/folio { flags @0; mapping @24; index @32; private @40; _mapcount @48; _refcount @52 }
#   struct vm_area_struct { vm_start @0; vm_end @8; vm_mm @16 }
#   struct rmap_walk_control { arg @0; try_lock @8; contended @9; rmap_one @16 }
KPROBES='p:kprobes/mder_make_device_exclusive_range make_device_exclusive_range mm=$arg1:x64 start=$arg2:x64 end=$arg3:x64 pages=$arg4:x64 owner=$arg5:x64
r:kprobes/mder_make_device_exclusive_range_ret make_device_exclusive_range ret=$retval:s32 start=$arg2:x64 pages=+0($arg4):x64[64]
p:kprobes/mder_get_user_pages_remote get_user_pages_remote mm=$arg1:x64 start=$arg2:x64 nr_pages=$arg3:u64 gup_flags=$arg4:x32 pages=$arg5:x64 locked=$arg6:x64
r:kprobes/mder_get_user_pages_remote_ret get_user_pages_remote ret=$retval:s64 mm=$arg1:x64 start=$arg2:x64 nr_pages=$arg3:u64
p:kprobes/mder_page_make_device_exclusive_one page_make_device_exclusive_one folio=$arg1:x64 vma=$arg2:x64 address=$arg3:x64 vma_mm=+16($arg2):x64 args_mm=+0($arg4):x64 args_address=+8($arg4):x64 args_owner=+16($arg4):x64 valid=+24($arg4):u8 mapcount=+48($arg1):s32 refcount=+52($arg1):s32
r:kprobes/mder_page_make_device_exclusive_one_ret page_make_device_exclusive_one ret=$retval:u8 folio=$arg1:x64 address=$arg3:x64 valid=+24($arg4):u8 mapcount=+48($arg1):s32 refcount=+52($arg1):s32
p:kprobes/mder_rmap_walk rmap_walk folio=$arg1:x64 rwc=$arg2:x64 rmap_one=+16($arg2):symbol mapcount=+48($arg1):s32 refcount=+52($arg1):s32
r:kprobes/mder_folio_lock_anon_vma_read_ret folio_lock_anon_vma_read ret=$retval:x64 folio=$arg1:x64 mapcount=+48($arg1):s32
p:kprobes/mder_folio_unlock folio_unlock folio=$arg1:x64 flags=+0($arg1):x64
p:kprobes/mder_mmu_notifier_invalidate_range_start __mmu_notifier_invalidate_range_start range=$arg1:x64 mm=+0($arg1):x64 start=+8($arg1):x64 end=+16($arg1):x64 flags=+24($arg1):u32 event=+28($arg1):u32 owner=+32($arg1):x64
p:kprobes/mder_do_swap_page do_swap_page vma=+0($arg1):x64 address=+24($arg1):x64 flags=+40($arg1):x32 orig_pte=+64($arg1):x64
p:kprobes/mder_do_wp_page do_wp_page vma=+0($arg1):x64 address=+24($arg1):x64 flags=+40($arg1):x32 orig_pte=+64($arg1):x64
p:kprobes/mder_restore_exclusive_pte restore_exclusive_pte vma=$arg1:x64 page=$arg2:x64 address=$arg3:x64 ptep=$arg4:x64 pte=+0($arg4):x64
p:kprobes/mder_folio_add_new_anon_rmap folio_add_new_anon_rmap folio=$arg1:x64 vma=$arg2:x64 address=$arg3:x64 flags=$arg4:x32
p:kprobes/mder_folio_add_anon_rmap_ptes folio_add_anon_rmap_ptes folio=$arg1:x64 page=$arg2:x64 nr_pages=$arg3:s32 vma=$arg4:x64 address=$arg5:x64 flags=$arg6:x32 mapcount=+48($arg1):s32
p:kprobes/mder_copy_page_range copy_page_range dst_vma=$arg1:x64 src_vma=$arg2:x64 src_start=+0($arg2):x64 src_end=+8($arg2):x64
p:kprobes/mder_unmap_page_range unmap_page_range tlb=$arg1:x64 vma=$arg2:x64 addr=$arg3:x64 end=$arg4:x64 details=$arg5:x64'
HOT="mder_folio_unlock mder_do_swap_page mder_do_wp_page mder_folio_add_new_anon_rmap mder_folio_add_anon_rmap_ptes mder_copy_page_range mder_unmap_page_range"

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
	run_workload race-$m race /bin/race $m $RACE_CALLS $RACE_SEED
done
dmesg > $OUT/dmesg.txt
free > $OUT/free.txt
log "all workloads done"
