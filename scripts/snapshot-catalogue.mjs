// Snapshots this machine's tracefs event list and the format files of the mm event catalogue
// into src/parse/catalogue/, the built-in formats used when a trace has none beside it.
// Usage: node scripts/snapshot-catalogue.mjs [TRACEFS]
//        node scripts/snapshot-catalogue.mjs --release 6.12.117 FORMATS_DIR...
// The second form writes formats-MAJOR.MINOR.json from format trees saved by another kernel
// (`formats/SYSTEM/EVENT/format`, as the lab keeps beside its traces): the catalogue of that
// version, tried when a trace's fields do not fit the default one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const outDir = path.join(import.meta.dirname, '..', 'src/parse/catalogue');
if (process.argv[2] === '--release') {
  const release = process.argv[3];
  const formats = {};
  for (const dir of process.argv.slice(4)) {
    for (const sys of fs.readdirSync(dir)) {
      // Probes are the recorder's own, not the kernel's.
      if (['kprobes', 'uprobes', 'probe'].includes(sys) || !fs.statSync(path.join(dir, sys)).isDirectory()) continue;
      for (const ev of fs.readdirSync(path.join(dir, sys))) {
        const p = path.join(dir, sys, ev, 'format');
        if (fs.existsSync(p)) formats[`${sys}:${ev}`] = fs.readFileSync(p, 'utf8');
      }
    }
  }
  const version = /^\d+\.\d+/.exec(release)[0];
  const sorted = Object.fromEntries(Object.entries(formats).sort(([a], [b]) => (a < b ? -1 : 1)));
  fs.writeFileSync(path.join(outDir, `formats-${version}.json`), JSON.stringify({ release, formats: sorted }, null, 0) + '\n');
  console.log(`${Object.keys(formats).length} formats of Linux ${release}`);
  process.exit(0);
}
const tracefs = process.argv[2] ?? '/sys/kernel/tracing';
const out = outDir;
const release = os.release();
const SYSTEMS = ['exceptions', 'kmem', 'task', 'tlb', 'pagemap', 'migrate', 'thp', 'huge_memory', 'ksm', 'mmap_lock', 'mmap', 'compaction', 'vmscan'];
const SCHED = ['sched_process_fork', 'sched_process_exit', 'sched_process_exec', 'sched_process_free', 'sched_process_wait'];
const SYSCALLS = ['mmap', 'munmap', 'mprotect', 'madvise', 'mremap', 'brk', 'clone', 'clone3', 'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'ioctl', 'move_pages', 'mbind', 'process_madvise', 'userfaultfd', 'mlock', 'munlock', 'msync', 'pkey_mprotect'];

const events = fs.readFileSync(path.join(tracefs, 'available_events'), 'utf8');
const formats = {};
const add = (sys, name) => {
  const p = path.join(tracefs, 'events', sys, name, 'format');
  if (fs.existsSync(p)) formats[`${sys}:${name}`] = fs.readFileSync(p, 'utf8');
};
for (const line of events.split('\n')) {
  const [sys, name] = line.split(':');
  if (!name) continue;
  if (SYSTEMS.includes(sys) || (sys === 'sched' && SCHED.includes(name))) add(sys, name);
}
for (const s of SYSCALLS) {
  add('syscalls', `sys_enter_${s}`);
  add('syscalls', `sys_exit_${s}`);
}
add('ftrace', 'print');
fs.writeFileSync(path.join(out, 'available_events.txt'), `# available_events of Linux ${release}\n${events}`);
fs.writeFileSync(path.join(out, 'formats.json'), JSON.stringify({ release, formats }, null, 0) + '\n');
console.log(`${Object.keys(formats).length} formats from Linux ${release}`);
