import type { CommandModule } from 'yargs';
import { PRESETS } from '../src/record/presets.js';
import { TracefsUnavailable } from '../src/record/tracefs.js';

interface Args {
  events: string[];
  output?: string;
  bufferKb: number;
  clock: string;
  format: 'text' | 'dat';
  pid?: number;
  allCpus?: boolean;
  withComm?: string[];
  '--'?: (string | number)[];
}

export const recordCommand: CommandModule<object, Args> = {
  command: 'record',
  describe:
    'Record mm events of a command (and its children) or a pid through a private tracefs instance',
  builder: (y) =>
    y
      .usage('$0 record [options] -- COMMAND [ARGS]')
      .parserConfiguration({ 'populate--': true })
      .option('events', {
        alias: 'e',
        type: 'string',
        array: true,
        default: ['mm'],
        describe: `presets (${Object.keys(PRESETS).join(', ')}) and/or SYSTEM:EVENT, comma separated`,
      })
      .option('output', {
        alias: 'o',
        type: 'string',
        describe:
          'trace text file to write (default mmreplay-DATE.trace.txt); sidecar OUT.json beside it; with --format dat, NAME.dat names the .dat and the text is NAME.txt',
      })
      .option('buffer-kb', { type: 'number', default: 16384, describe: 'ring buffer per CPU' })
      .option('clock', {
        type: 'string',
        default: 'mono',
        describe: 'trace_clock (mono matches CLOCK_MONOTONIC)',
      })
      .option('format', {
        choices: ['text', 'dat'] as const,
        default: 'text' as const,
        describe: 'dat: also write a trace-cmd .dat (trace-cmd extract)',
      })
      .option('pid', {
        alias: 'p',
        type: 'number',
        describe: 'record an existing process (and children it forks) until it exits or Ctrl-C',
      })
      .option('with-comm', {
        type: 'string',
        array: true,
        describe:
          'also keep the events of these kernel threads (ksmd, khugepaged, kswapd0), which act on the process from their own context',
      })
      .option('all-cpus', {
        type: 'boolean',
        describe: 'system-wide: no pid filter (stop with Ctrl-C, or when COMMAND ends)',
      })
      .example(
        '$0 record -e mm -o fork.txt -- ./traces/workloads/build/fork_cow',
        'trace one workload',
      )
      .example('$0 record -e device-exclusive --pid 1234', 'attach to a running process') as never,
  handler: async (a) => {
    const { record } = await import('../src/record/record.js');
    const command = (a['--'] ?? []).map(String);
    // `-o run.dat --format dat` names the .dat: the text goes beside it, not into a file so named.
    const output =
      (a.format === 'dat' ? a.output?.replace(/\.dat$/, '.txt') : a.output) ??
      `mmreplay-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.trace.txt`;
    // A live progress line on a terminal: events written and lost so far.
    const tty = process.stderr.isTTY;
    let shown = false;
    const onProgress = (p: { events: number; lost: number }) => {
      process.stderr.write(`\rmmreplay record: ${p.events} events, ${p.lost} lost\x1b[K`);
      shown = true;
    };
    const endLine = () => {
      if (shown) process.stderr.write('\n');
      shown = false;
    };
    try {
      const s = await record({
        command: command.length ? command : undefined,
        pid: a.pid,
        withComm: a.withComm?.flatMap((c) => String(c).split(',')),
        allCpus: a.allCpus,
        events: a.events,
        output,
        bufferKb: a.bufferKb,
        clock: a.clock,
        dat: a.format === 'dat',
        onProgress: tty ? onProgress : undefined,
        log: (m) => {
          endLine();
          process.stderr.write(`mmreplay record: ${m}\n`);
        },
      }).finally(endLine);
      process.stderr.write(
        `mmreplay record: wrote ${output} and ${output}.json (${s.events_recorded} events of ${s.events_placed.length} types, ${s.lost_events} lost${s.dat ? `, ${s.dat.file}` : ''})\n`,
      );
      if (s.signal)
        process.exitCode = s.signal === 'SIGINT' ? 130 : s.signal === 'SIGTERM' ? 143 : 129;
      else if (s.exit_code) process.exitCode = s.exit_code;
    } catch (e) {
      if (e instanceof TracefsUnavailable) {
        process.stderr.write(`mmreplay record: ${e.message}\n`);
        process.exit(2);
      }
      throw e;
    }
  },
};
