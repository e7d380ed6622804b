#!/usr/bin/env bash
# mmreplay kernel lab: build a tinyconfig Linux (Debian linux-source-X.Y) with
# test_hmm built in, boot it in QEMU (TCG, 2 vCPUs), record device-exclusive
# traces inside the guest and unpack them into traces/lab/<X.Y>/.
#
# Usage: traces/lab/lab.sh [--clean] [--kernel 6.12|6.1] [--calls N] [--seed N]
#                          [--modes "none dontneed ..."] [--only STEP] [--set r2]
# --set r2: the second 6.12 record (traces/lab/6.12-r2/): guest/run2.sh records
#   every workload into two tracefs instances at once (probe sets A and B),
#   QEMU gets two NUMA nodes, a swap disk and -cpu max,-la57.
# --set r3: the third 6.12 record (traces/lab/6.12-r3/): the r2 guest, QEMU
#   and workloads, recorded with the probe sets named in PROBE_SETS (default
#   C: traces/lab/6.12-r3/kprobes-C.txt and events-C.txt), one instance each.
# Steps (each skipped when its output exists, unless --clean):
#   apt unpack config build offsets guest initramfs run collect
# Build artefacts live in /work/lab-build (outside the repo); only results go
# under traces/lab/<X.Y>/.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_ROOT=${LAB_BUILD:-/work/lab-build}
KVER=6.12
CLEAN=0
ONLY=""
SET=""       # "" (first record, guest/run.sh) or r2 (guest/run2.sh, two instances)
RACE_CALLS=${RACE_CALLS:-}   # default per kernel below: 30 (6.12), 4 (6.1)
RACE_SEED=${RACE_SEED:-12345}
RACE_MODES_SET=0; [ -n "${RACE_MODES:-}" ] && RACE_MODES_SET=1
RACE_MODES=${RACE_MODES:-"none dontneed fork_exit fork_write mprotect thp"}
RACE_CALLS_thp=${RACE_CALLS_thp:-5}   # thp mode: requests per size (small trace)
HMM_TESTS=${HMM_TESTS:-"exclusive exclusive_mprotect exclusive_cow"}
BUFFER_KB=${BUFFER_KB:-65536}
GUEST_MEM=${GUEST_MEM:-2G}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-5400}

while [ $# -gt 0 ]; do
	case "$1" in
	--clean) CLEAN=1 ;;
	--kernel) KVER=$2; shift ;;
	--calls) RACE_CALLS=$2; shift ;;
	--seed) RACE_SEED=$2; shift ;;
	--modes) RACE_MODES=$2; RACE_MODES_SET=1; shift ;;
	--only) ONLY=$2; shift ;;
	--set) SET=$2; shift ;;
	-h|--help) sed -n 2,15p "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

if [ -z "$RACE_CALLS" ]; then
	case "$KVER$SET" in 6.1) RACE_CALLS=4 ;; *r2|*r3) RACE_CALLS=20 ;; *) RACE_CALLS=30 ;; esac
fi
if { [ "$SET" = r2 ] || [ "$SET" = r3 ]; } && [ "$RACE_MODES_SET" = 0 ]; then
	RACE_MODES="none dontneed uffd_wp migrate pageout writer two_req ksm"
fi
SRC_TAR=/usr/src/linux-source-$KVER.tar.xz
TREE=$BUILD_ROOT/linux-source-$KVER
GUEST=$BUILD_ROOT/guest-$KVER
STAGE=$BUILD_ROOT/initramfs-$KVER
INITRD=$BUILD_ROOT/initramfs-$KVER.cpio.gz
DISK=$BUILD_ROOT/results-$KVER.img
SWAPDISK=$BUILD_ROOT/swap-$KVER.img
R2_BOOT=${R2_BOOT:-}   # r2: a later boot that adds/replaces workloads keeps its boot-level files in $RES/$R2_BOOT
RAW=$BUILD_ROOT/results-$KVER${SET:+-$SET}${R2_BOOT:+-$R2_BOOT}
RES=$LAB_DIR/$KVER${SET:+-$SET}
BOOTDIR=$RES${R2_BOOT:+/$R2_BOOT}
# The kconfig fragment is per kernel version (shared by the records of it).
FRAGMENT=$LAB_DIR/$KVER/kconfig.fragment
# r2 defaults (RACE_* from the environment win)
RACE_SIZES=${RACE_SIZES:-}
if [ "$SET" = r3 ]; then NOSYS_MODES=${NOSYS_MODES-}; else NOSYS_MODES=${NOSYS_MODES-dontneed}; fi
# probe sets (r2 and later): one tracefs instance each, kprobes-<set>.txt in $RES
if [ "$SET" = r3 ]; then PROBE_SETS=${PROBE_SETS:-C}; else PROBE_SETS=${PROBE_SETS:-"A B"}; fi
HIDE_KALLSYMS_SETS=${HIDE_KALLSYMS_SETS-B}
RACE_CALLS_nosys=${RACE_CALLS_nosys:-10}
QEMU_CPU=${QEMU_CPU:-max}
QEMU_EXTRA=()
RUN_SCRIPT=run.sh
if [ "$SET" = r2 ] || [ "$SET" = r3 ]; then
	RUN_SCRIPT=run2.sh
	RACE_SIZES=${RACE_SIZES:-1,16,64,256}
	QEMU_CPU=${QEMU_CPU_R2:-max,-la57}
	HMM_TESTS=${HMM_TESTS_R2:-}
fi
BZIMAGE=$TREE/arch/x86/boot/bzImage
TIMINGS=$BUILD_ROOT/timings-$KVER.txt

log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[lab] FATAL: %s\n' "$*" >&2; exit 1; }

step() {
	local name=$1; shift
	if [ -n "$ONLY" ] && [ "$ONLY" != "$name" ]; then return 0; fi
	local t0 t1
	t0=$(date +%s)
	log "step $name: start"
	"$@"
	t1=$(date +%s)
	log "step $name: done in $((t1 - t0)) s"
	echo "$name $((t1 - t0))s $(date -Is)" >> "$TIMINGS"
}

# ---------------------------------------------------------------- apt
APT_PKGS="linux-source-$KVER qemu-system-x86 busybox-static flex bison bc libelf-dev libssl-dev cpio trace-cmd xz-utils build-essential"
do_apt() {
	local missing=""
	for p in $APT_PKGS; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		log "installing:$missing"
		DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
	else
		log "all packages present"
	fi
	dpkg -s "linux-source-$KVER" | grep '^Version' | tee "$BUILD_ROOT/linux-source-$KVER.version"
}

# ---------------------------------------------------------------- unpack
do_unpack() {
	if [ "$CLEAN" = 1 ]; then rm -rf "$TREE"; fi
	if [ -f "$TREE/Makefile" ]; then log "tree present: $TREE"; return; fi
	tar -C "$BUILD_ROOT" -xf "$SRC_TAR"
	[ -f "$TREE/Makefile" ] || die "unpack did not produce $TREE"
}

# ---------------------------------------------------------------- config
check_config() {
	local bad=0 line sym
	while IFS= read -r line; do
		case "$line" in
		'# CONFIG_'*' is not set')
			sym=${line#\# }; sym=${sym%% *}
			if grep -q "^$sym=" "$TREE/.config"; then
				echo "CONFIG CHECK FAILED: wanted '$line', got '$(grep "^$sym=" "$TREE/.config")'" >&2; bad=1
			fi ;;
		'#'*|'') ;;
		*)
			if ! grep -qx "$line" "$TREE/.config"; then
				sym=${line%%=*}
				echo "CONFIG CHECK FAILED: wanted '$line', got '$(grep -E "^$sym=|^# $sym is not set" "$TREE/.config" || echo absent)'" >&2; bad=1
			fi ;;
		esac
	done < "$FRAGMENT"
	[ $bad = 0 ] || die "some kconfig options did not land in .config (see above)"
	log "all $(grep -c '^CONFIG_\|^# CONFIG_' "$FRAGMENT") fragment options present in .config"
}

do_config() {
	[ -f "$FRAGMENT" ] || die "missing $FRAGMENT"
	if [ "$CLEAN" = 0 ] && [ -f "$TREE/.config" ] && [ "$TREE/.config" -nt "$FRAGMENT" ]; then
		log ".config newer than fragment, keeping it"
	else
		(cd "$TREE" && make tinyconfig >/dev/null &&
			scripts/kconfig/merge_config.sh -m .config "$FRAGMENT" >/dev/null &&
			make olddefconfig >/dev/null)
	fi
	check_config
	xz -9 -c "$TREE/.config" > "$RES/config.txt.xz"
}

# ---------------------------------------------------------------- build
do_build() {
	if [ "$CLEAN" = 0 ] && [ -f "$BZIMAGE" ] && [ "$BZIMAGE" -nt "$TREE/.config" ]; then
		log "bzImage up to date"; return
	fi
	(cd "$TREE" && make -j"$(nproc)" bzImage > "$BUILD_ROOT/kbuild-$KVER.log" 2>&1) ||
		{ tail -40 "$BUILD_ROOT/kbuild-$KVER.log"; die "kernel build failed"; }
	ls -la "$BZIMAGE"
}

# ---------------------------------------------------------------- offsets
# Compile a file with offsetof() for the structs the kprobes dereference,
# using the kernel's own build flags (asm-offsets trick), and check them.
do_offsets() {
	local d=$TREE/lab-offsets
	mkdir -p "$d"
	: > "$d/Makefile"
	cp "$LAB_DIR/offsets.c" "$d/offsets.c"
	(cd "$TREE" && make lab-offsets/offsets.s > "$BUILD_ROOT/offsets-$KVER.log" 2>&1) ||
		{ cat "$BUILD_ROOT/offsets-$KVER.log"; die "offsets build failed"; }
	grep -- '->' "$d/offsets.s" | sed 's/.*->\([A-Za-z0-9_]*\) \$\?\([0-9-]*\).*/\1 \2/' > "$RES/offsets.txt"
	cat "$RES/offsets.txt"
}

# ---------------------------------------------------------------- guest programs
do_guest() {
	mkdir -p "$GUEST"
	local hmm=$TREE/tools/testing/selftests/mm/hmm-tests.c
	if [ -f "$hmm" ]; then
		gcc -O2 -static -pthread -I"$TREE" -I"$TREE/tools/testing/selftests" -o "$GUEST/hmm-tests" "$hmm"
	else
		# 6.1 keeps the test in selftests/vm, and its kselftest_harness.h has no
		# test selection (-r/-t arrived in 6.3): without one hmm-tests runs all
		# 58 tests. Build the 6.1 test against the 6.12 harness (kselftest.h +
		# kselftest_harness.h), which only adds the command-line options.
		local h12=$BUILD_ROOT/linux-source-6.12/tools/testing/selftests
		[ -f "$h12/kselftest_harness.h" ] || die "6.1 hmm-tests needs the 6.12 tree for its harness ($h12)"
		mkdir -p "$GUEST/src/vm"
		cp "$h12/kselftest_harness.h" "$h12/kselftest.h" "$GUEST/src/"
		cp "$TREE/tools/testing/selftests/vm/hmm-tests.c" "$GUEST/src/vm/"
		gcc -O2 -static -pthread -I"$TREE" -I"$GUEST/src" -o "$GUEST/hmm-tests" "$GUEST/src/vm/hmm-tests.c"
	fi
	local w r
	w=$(awk '$1 == "swp_device_exclusive_write" {print $2}' "$RES/offsets.txt")
	r=$(awk '$1 == "swp_device_exclusive_read" {print $2}' "$RES/offsets.txt")
	[ -n "$w" ] && [ -n "$r" ] || die "swap types missing from $RES/offsets.txt"
	gcc -O2 -Wall -static -pthread -I"$TREE" -DSWP_DEVICE_EXCLUSIVE_WRITE="$w" \
		-DSWP_DEVICE_EXCLUSIVE_READ="$r" -o "$GUEST/race" "$LAB_DIR/race.c"
	ls -la "$GUEST"
}

# ---------------------------------------------------------------- initramfs
do_initramfs() {
	rm -rf "$STAGE"
	mkdir -p "$STAGE"/{bin,sbin,proc,sys,dev,tmp,out,lib64,lib/x86_64-linux-gnu,usr/bin,etc}
	cp /bin/busybox "$STAGE/bin/busybox"
	cp "$LAB_DIR/guest/init" "$STAGE/init"
	cp "$LAB_DIR/guest/run.sh" "$STAGE/run.sh"
	if [ "$RUN_SCRIPT" = run2.sh ]; then
		cp "$LAB_DIR/guest/run2.sh" "$STAGE/run2.sh"
		local s
		for s in $PROBE_SETS; do
			cp "$RES/kprobes-$s.txt" "$STAGE/"
			[ -f "$RES/events-$s.txt" ] && cp "$RES/events-$s.txt" "$STAGE/"
		done
		chmod +x "$STAGE/run2.sh"
	else
		cp "$RES/kprobes.txt" "$STAGE/kprobes.txt"
	fi
	chmod +x "$STAGE/init" "$STAGE/run.sh"
	cp "$GUEST/hmm-tests" "$GUEST/race" "$STAGE/bin/"
	local tc; tc=$(command -v trace-cmd)
	cp "$tc" "$STAGE/bin/trace-cmd"
	ldd "$tc" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
		[ -f "$lib" ] || continue
		case "$lib" in
		/lib64/*|/lib/ld-linux*) cp -L "$lib" "$STAGE/lib64/" ;;
		*) cp -L "$lib" "$STAGE/lib/x86_64-linux-gnu/" ;;
		esac
	done
	cat > "$STAGE/lab.conf" <<EOF
OUT=/out
RUN=$RUN_SCRIPT
RACE_SIZES=$RACE_SIZES
NOSYS_MODES="$NOSYS_MODES"
RACE_CALLS_nosys=$RACE_CALLS_nosys
PROBE_SETS="$PROBE_SETS"
HIDE_KALLSYMS_SETS="$HIDE_KALLSYMS_SETS"
$(env | grep -E '^RACE_(CALLS|SIZES)_[a-z_]+=' | grep -v '^RACE_CALLS_nosys=\|^RACE_CALLS_thp=' || true)
RACE_CALLS=$RACE_CALLS
RACE_SEED=$RACE_SEED
RACE_MODES="$RACE_MODES"
RACE_CALLS_thp=$RACE_CALLS_thp
HMM_TESTS="$HMM_TESTS"
BUFFER_KB=$BUFFER_KB
EOF
	(cd "$STAGE" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD"
	ls -la "$INITRD"
}

# ---------------------------------------------------------------- run
do_run() {
	rm -f "$DISK"
	truncate -s 2G "$DISK"
	mkdir -p "$RES"
	if [ "$RUN_SCRIPT" = run2.sh ]; then
		# two NUMA nodes (one vCPU and half the memory each) for move_pages,
		# and a 256 MiB swap disk (/dev/vdb) for MADV_PAGEOUT
		local half=$(( ${GUEST_MEM%G} * 1024 / 2 ))M
		rm -f "$SWAPDISK"; truncate -s 256M "$SWAPDISK"
		QEMU_EXTRA=(-object memory-backend-ram,id=m0,size=$half -object memory-backend-ram,id=m1,size=$half
			-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1
			-drive file="$SWAPDISK",format=raw,if=virtio)
	fi
	local cmd=(qemu-system-x86_64 -accel tcg,thread=multi -cpu "$QEMU_CPU" -smp 2 -m "$GUEST_MEM"
		-nographic -no-reboot -kernel "$BZIMAGE" -initrd "$INITRD"
		-append "console=ttyS0 panic=-1 nokaslr no_hash_pointers"
		-drive file="$DISK",format=raw,if=virtio "${QEMU_EXTRA[@]}")
	mkdir -p "$BOOTDIR"
	echo "${cmd[*]}" > "$BOOTDIR/qemu-command.txt"
	log "QEMU: ${cmd[*]}; console -> $BUILD_ROOT/console-$KVER.log (xz copy in $RES)"
	timeout "$QEMU_TIMEOUT" "${cmd[@]}" < /dev/null 2>&1 | tee "$BUILD_ROOT/console-$KVER.log" | grep --line-buffered 'LAB:\|Kernel panic\|BUG\|WARNING' || true
	grep -q 'LAB: tar ok' "$BUILD_ROOT/console-$KVER.log" || die "guest did not finish (see $BUILD_ROOT/console-$KVER.log)"
	tr -d '\r' < "$BUILD_ROOT/console-$KVER.log" | xz -9 > "$BOOTDIR/console.log.xz"
}

# ---------------------------------------------------------------- collect
# r2 layout: <workload>/A (set A: like the first record, with formats) and
# <workload>/B (set B: trace.txt.xz, trace.dat(.xz), report.txt.xz,
# kallsyms.txt.xz, no formats).
collect_dat() {   # collect_dat RAW_DAT OUTDIR TMPNAME
	local dat=$1 out=$2 tmp=$3
	trace-cmd report -i "$dat" 2> "$out/report.stderr" | xz -9 -T2 > "$out/report.txt.xz"
	[ -s "$out/report.stderr" ] || rm -f "$out/report.stderr"
	trace-cmd convert --compression none -i "$dat" -o "$tmp" > /dev/null 2>&1 || cp "$dat" "$tmp"
	if [ "$(stat -c %s "$tmp")" -gt 1048576 ]; then
		xz -9 -T2 -c "$tmp" > "$out/trace.dat.xz"
	else
		cp "$tmp" "$out/trace.dat"
	fi
}

do_collect_r2() {
	rm -rf "$RAW"; mkdir -p "$RAW"
	tar -C "$RAW" -xf "$DISK"
	local f w name i
	for f in uname.txt cmdline.txt la57.txt thp_enabled.txt devices.txt kprobe_events \
		kprobe_events.failed kprobe_error_log free.txt numa.txt swap.txt; do
		[ -f "$RAW/$f" ] && cp "$RAW/$f" "$BOOTDIR/$f"
	done
	xz -9 -c "$RAW/available_events.txt" > "$BOOTDIR/available_events.txt.xz"
	xz -9 -c "$RAW/dmesg.txt" > "$BOOTDIR/dmesg.txt.xz"
	xz -9 -c "$RAW/all-formats.tar" > "$BOOTDIR/all-formats.tar.xz"
	cp "$RAW/guest-console.log" "$BOOTDIR/guest-console.log"
	for w in "$RAW"/*/; do
		name=$(basename "$w")
		local out=$RES/$name
		rm -rf "$out"; mkdir -p "$out"
		echo "${R2_BOOT:-boot1 (boot-level files in $(basename "$RES")/)}" > "$out/boot.txt"
		for f in ksm_after.txt swaps_after.txt vmstat_after.txt free_after.txt; do
			[ -f "$w/$f" ] && cp "$w/$f" "$out/$f"
		done
		for i in $PROBE_SETS; do
			[ -d "$w/$i" ] || continue
			mkdir -p "$out/$i"
			[ -d "$w/$i/formats" ] && cp -r "$w/$i/formats" "$out/$i/formats"
			for f in kprobe_events stats.txt stdout.log stderr.log exit.txt command.txt filters.txt \
				extract.log kprobe_profile.txt set_event.txt instance.txt; do
				[ -f "$w/$i/$f" ] && cp "$w/$i/$f" "$out/$i/$f"
			done
			[ -f "$w/$i/kallsyms.txt" ] && xz -9 -T2 -c "$w/$i/kallsyms.txt" > "$out/$i/kallsyms.txt.xz"
			gunzip -c "$w/$i/trace.txt.gz" | xz -9 -T2 > "$out/$i/trace.txt.xz"
			[ -f "$w/$i/trace.dat" ] && collect_dat "$w/$i/trace.dat" "$out/$i" "$RAW/$name-$i.dat"
		done
		log "$name: $(du -sh "$out" | cut -f1)"
	done
	du -sh "$RES"
}

do_collect() {
	if [ "$RUN_SCRIPT" = run2.sh ]; then do_collect_r2; return; fi
	rm -rf "$RAW"; mkdir -p "$RAW"
	tar -C "$RAW" -xf "$DISK"
	local f w name
	for f in uname.txt cmdline.txt la57.txt thp_enabled.txt devices.txt kprobe_events \
		kprobe_events.failed kprobe_error_log free.txt; do
		[ -f "$RAW/$f" ] && cp "$RAW/$f" "$RES/$f"
	done
	xz -9 -c "$RAW/available_events.txt" > "$RES/available_events.txt.xz"
	xz -9 -c "$RAW/dmesg.txt" > "$RES/dmesg.txt.xz"
	cp "$RAW/guest-console.log" "$RES/guest-console.log"
	for w in "$RAW"/*/; do
		name=$(basename "$w")
		local out=$RES/$name
		rm -rf "$out"; mkdir -p "$out"
		cp -r "$w/formats" "$out/formats"
		for f in kprobe_events stats.txt stdout.log stderr.log exit.txt command.txt filters.txt extract.log kprobe_profile.txt; do
			[ -f "$w/$f" ] && cp "$w/$f" "$out/$f"
		done
		gunzip -c "$w/trace.txt.gz" | xz -9 -T2 > "$out/trace.txt.xz"
		if [ -f "$w/trace.dat" ]; then
			trace-cmd report -i "$w/trace.dat" 2> "$out/report.stderr" | xz -9 -T2 > "$out/report.txt.xz"
			[ -s "$out/report.stderr" ] || rm -f "$out/report.stderr"
			# The guest's extract is zstd-compressed (trace-cmd 3.1 default), which
			# xz cannot shrink; rewrite it uncompressed (same v7 file, same events)
			# so that xz gets it to about half the size.
			trace-cmd convert --compression none -i "$w/trace.dat" -o "$RAW/$name.dat" > /dev/null 2>&1 ||
				cp "$w/trace.dat" "$RAW/$name.dat"
			if [ "$(stat -c %s "$RAW/$name.dat")" -gt 1048576 ]; then
				xz -9 -T2 -c "$RAW/$name.dat" > "$out/trace.dat.xz"
			else
				cp "$RAW/$name.dat" "$out/trace.dat"
			fi
		fi
		log "$name: $(du -sh "$out" | cut -f1)"
	done
	du -sh "$RES"
}

mkdir -p "$BUILD_ROOT" "$RES"
log "kernel $KVER, tree $TREE, results $RES"
step apt do_apt
step unpack do_unpack
step config do_config
step build do_build
step offsets do_offsets
step guest do_guest
step initramfs do_initramfs
step run do_run
step collect do_collect
log "finished; timings in $TIMINGS"
