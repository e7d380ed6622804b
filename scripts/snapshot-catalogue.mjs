// Snapshots this machine's tracefs event list and the format files of the mm event catalogue
// into src/parse/catalogue/, the built-in formats used when a trace has none beside it.
// Usage: node scripts/snapshot-catalogue.mjs [TRACEFS]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const tracefs = process.argv[2] ?? '/sys/kernel/tracing';
const out = path.join(import.meta.dirname, '..', 'src/parse/catalogue');
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
