#!/usr/bin/env bash
# Per-mode/size result table of the race runs, computed from the RACE_CALL
# lines of traces/lab/<version>/race-*/stdout.log (6.12-r2:
# race-*/A/stdout.log, or race-*/B/stdout.log where only B was recorded;
# 6.12-r3: race-*/C/stdout.log).
# two_req rows are split by device (dev=0: the main thread on hmm_dmirror0,
# dev=1: the second thread on hmm_dmirror1). Usage: summarize.sh DIR
set -euo pipefail
dir=${1:?usage: summarize.sh traces/lab/<version>}
echo "| mode | npages | requests | 0 (ok) | -EBUSY | -ENOENT | other | pages left E (mean) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for m in none dontneed fork_exit fork_write mprotect thp uffd_wp migrate pageout writer two_req ksm dontneed-nosys; do
	f=$dir/race-$m/stdout.log
	[ -f "$f" ] || f=$dir/race-$m/A/stdout.log
	[ -f "$f" ] || f=$dir/race-$m/B/stdout.log
	[ -f "$f" ] || f=$dir/race-$m/C/stdout.log
	[ -f "$f" ] || continue
	grep '^RACE_CALL ' "$f" | awk -v m="$m" '
	{
		delete v
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		n = v["npages"] + 0
		if ("dev" in v) n = n "/dev" v["dev"]
		if (!(n in req)) order[++k] = n
		req[n]++
		if (v["ret"] == 0) ok[n]++
		else if (v["errno"] == 16) busy[n]++
		else if (v["errno"] == 2) noent[n]++
		else other[n]++
		e = gsub(/E/, "E", v["pagemap"]); es[n] += e
	}
	END {
		for (j = 1; j <= k; j++) { n = order[j]
			split(n, nd, "/")
			printf "| %s | %s | %d | %d | %d | %d | %d | %.1f |\n", (nd[2] != "" ? m " (" nd[2] ")" : m), nd[1], req[n], ok[n], busy[n], noent[n], other[n], es[n] / req[n]
		}
	}'
done
echo
echo "hmm-tests:"
for f in "$dir"/hmm-*/stdout.log; do
	[ -f "$f" ] || continue
	echo "- $(basename "$(dirname "$f")"): $(grep -E '^(ok|not ok) ' "$f" | tr '\n' ' ')"
done
