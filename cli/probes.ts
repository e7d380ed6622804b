import type { CommandModule } from 'yargs';
import { KERNEL_VERSIONS, type KernelVersion } from '../src/replay/kernel.js';
import { formatTable } from './output.js';

interface Args {
  db?: string;
  kernel: KernelVersion;
  format: 'table' | 'kprobe_events' | 'perf';
}

export const probesCommand: CommandModule<object, Args> = {
  command: 'probes [db]',
  describe:
    "The kprobes the device-exclusive model reads (ready kprobe_events lines and perf probe commands), or how a database's probes were bound",
  builder: (y) =>
    y
      .positional('db', {
        type: 'string',
        describe:
          'an ingested database: show which of its events play which role, and what they lack',
      })
      .option('kernel', {
        type: 'string',
        choices: KERNEL_VERSIONS,
        default: '6.12' as KernelVersion,
        describe: 'kernel to write probes for (function names and struct offsets differ)',
      })
      .option('format', {
        choices: ['table', 'kprobe_events', 'perf'] as const,
        default: 'table' as const,
        describe: 'table, lines for tracefs kprobe_events, or perf probe commands',
      }) as never,
  handler: async (a) => {
    const { Db } = await import('../src/store/db.js');
    const { bindProbes } = await import('../src/replay/probes.js');
    const { probeRecipes } = await import('../src/replay/probe_recipes.js');
    const out = process.stdout;
    if (a.db) {
      const db = await Db.open(a.db);
      try {
        const files = await db.rows<{ file_id: number; path: string }>(
          `SELECT file_id, path FROM files ORDER BY file_id`,
        );
        for (const f of files) {
          const { bound, unbound } = await bindProbes(db, f.file_id, a.kernel, 64);
          out.write(`${f.path}:\n`);
          out.write(
            formatTable(
              bound.map((b) => ({
                event: b.event,
                func: b.func,
                role: b.role,
                missing: b.missing.join(' ') || '-',
              })),
            ),
          );
          if (unbound.length)
            out.write(
              `not used:\n${formatTable(unbound.map((u) => ({ event: u.event, func: u.func ?? '?', why: u.reason })))}`,
            );
          const roles = new Set(bound.map((b) => b.role));
          const absent = probeRecipes(a.kernel).filter((r) => !roles.has(r.role));
          if (absent.length)
            out.write(
              `not traced:\n${formatTable(absent.map((r) => ({ role: r.role, for: r.why })))}`,
            );
        }
      } finally {
        db.close();
      }
      return;
    }
    const recipes = probeRecipes(a.kernel);
    if (a.format === 'kprobe_events') out.write(recipes.map((r) => r.kprobe).join('\n') + '\n');
    else if (a.format === 'perf') out.write(recipes.map((r) => r.perf).join('\n') + '\n');
    else
      out.write(
        formatTable(
          recipes.map((r) => ({
            probe: `${r.func}${r.role.startsWith('kretprobe') ? '%return' : ''}`,
            for: r.why,
          })),
        ),
      );
  },
};
