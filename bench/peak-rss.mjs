// Peak RSS of this process, in MB, for the benches' children. Linux carries getrusage's ru_maxrss
// over fork and exec, so a child's `maxRSS` is at least what its parent held when it was spawned
// (bench:ingest's parent, holding trace-cmd report's text of the recorded .dat, made a perf.data
// ingest whose own peak was 284 MB read 821 MB). VmHWM is the high-water mark of this process's
// own memory. JavaScript, so that the plain-node children import it.
import fs from 'node:fs';

/** This process's peak RSS in MB: VmHWM where /proc has it, else getrusage's maxRSS. */
export function peakRssMb() {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}
