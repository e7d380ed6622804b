// `mmreplay probes --kernel V`: ready kprobe_events lines and perf probe commands for the calls
// the model reads.
import type { KernelVersion } from './kernel.js';
import { ARG_REGS, ROLES, STRUCTS, signature } from './probe_table.js';

/** Whether a function the model reads exists (and is the one to probe) in a kernel version. */
function existsIn(func: string, k: KernelVersion): boolean {
  switch (func) {
    case 'make_device_exclusive_range':
      return k !== '6.18';
    case 'make_device_exclusive':
      return k === '6.18';
    case 'page_add_new_anon_rmap':
    case 'vmalloc':
      return k === '6.1';
    case 'folio_add_new_anon_rmap':
    case 'vmalloc_noprof':
      return k !== '6.1';
  }
  return signature(func, k) !== null;
}

/** How to place the probes the model reads, on a given kernel: kprobe_events lines and perf probe commands. */
export function probeRecipes(
  k: KernelVersion,
): { role: string; func: string; why: string; kprobe: string; perf: string }[] {
  const out: { role: string; func: string; why: string; kprobe: string; perf: string }[] = [];
  for (const r of ROLES) {
    const func = r.funcs.find((f) => existsIn(f, k));
    if (!func) continue;
    const sig = signature(func, k)!;
    const args: { name: string; fetch: string; reg: string; type: string }[] = [];
    for (const w of [...r.nums, ...(r.s ? [r.s] : [])]) {
      const name = w.path.replace(/^\*|^\$/, '').replace('->', '_');
      if (args.some((a) => a.name === name)) continue;
      if (w.path === '$retval') {
        args.push({
          name: 'ret',
          fetch: '$retval',
          reg: '$retval',
          type:
            func === 'get_user_pages_remote'
              ? 's64'
              : func === 'make_device_exclusive'
                ? 'x64'
                : 's32',
        });
        continue;
      }
      const [param, member] = w.path.replace(/^\*/, '').split('->');
      const i = sig.params.indexOf(param);
      if (i < 0) continue;
      let fetch = `$arg${i + 1}`;
      let reg = `%${ARG_REGS[i]}`;
      if (member) {
        const off = Object.entries(STRUCTS[sig.structs![param]](k)).find(
          ([, m]) => m === member,
        )?.[0];
        fetch = `+${off}(${fetch})`;
        reg = `+${off}(${reg})`;
      }
      const array = w.path.startsWith('*');
      if (array) {
        fetch = `+0(${fetch})`;
        reg = `+0(${reg})`;
      }
      // enum mmu_notifier_event and fault/notifier flags are 32-bit, bool 8-bit.
      const type = array
        ? 'x64[64]'
        : member === 'event' || member === 'flags'
          ? 'u32'
          : param === 'enable_wp'
            ? 'u8'
            : 'x64';
      args.push({ name, fetch, reg, type });
    }
    // Return probes read entry args from 6.10 on (kernel/trace/trace_probe.c).
    const usable =
      r.kind === 'entry' || k !== '6.1' ? args : args.filter((a) => a.fetch === '$retval');
    const list = (reg: boolean) =>
      usable.map((a) => `${a.name}=${reg ? a.reg : a.fetch}:${a.type}`).join(' ');
    const ev = `${func}${r.kind === 'return' ? '_ret' : ''}`;
    out.push({
      role: r.role,
      func,
      why: r.why,
      kprobe: `${r.kind === 'return' ? 'r' : 'p'}:mmreplay/${ev} ${func} ${list(false)}`.trimEnd(),
      perf: `perf probe -a '${func}${r.kind === 'return' ? '%return' : ''} ${list(true)}'`.replace(
        / '$/,
        "'",
      ),
    });
  }
  return out;
}
