// The mmreplay command line: one module per subcommand, each thin over src/.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ingestCommand } from './ingest.js';
import { infoCommand } from './info.js';
import { queryCommand } from './query.js';
import { recordCommand } from './record.js';
import { replayCommand } from './replay.js';
import { exclusiveCommand } from './exclusive.js';
import { stateCommand } from './state.js';
import { probesCommand } from './probes.js';
import { viewsCommand } from './views.js';
import { chartCommand } from './chart.js';
import { compareCommand, reportCommand } from './report.js';
import { exportCommand } from './export.js';
import { synthCommand } from './synth.js';
import { fail, quietOnEpipe } from './output.js';

const COMMANDS = [
  'ingest',
  'info',
  'query',
  'record',
  'replay',
  'exclusive',
  'state',
  'probes',
  'views',
  'chart',
  'report',
  'compare',
  'export',
  'synth',
];

quietOnEpipe();
let argv = hideBin(process.argv);
// `mmreplay help CMD` is `mmreplay CMD --help`.
if (argv[0] === 'help')
  argv = argv[1] && COMMANDS.includes(argv[1]) ? [argv[1], '--help'] : ['--help'];

await yargs(argv)
  .scriptName('mmreplay')
  .usage(
    '$0 <command> [options]\n\nIngest Linux mm traces into DuckDB, replay them, and ask why device-exclusive ranges failed.',
  )
  .command(ingestCommand)
  .command(infoCommand)
  .command(queryCommand)
  .command(recordCommand)
  .command(replayCommand)
  .command(exclusiveCommand)
  .command(stateCommand)
  .command(probesCommand)
  .command(viewsCommand)
  .command(chartCommand)
  .command(reportCommand)
  .command(compareCommand)
  .command(exportCommand)
  .command(synthCommand)
  .command(
    'help [command]',
    'Show the options of a command',
    () => {},
    () => {},
  )
  .demandCommand(1, 'name a command')
  .strict()
  .option('debug', { type: 'boolean', global: true, describe: 'print stacks with errors' })
  .fail((msg, err) => {
    if (err) fail(err);
    // The usage error first and short; the help is one command away.
    const cmd = argv.find((x) => !x.startsWith('-'));
    process.stderr.write(
      `mmreplay: ${msg}\nsee: mmreplay ${cmd && COMMANDS.includes(cmd) ? `help ${cmd}` : '--help'}\n`,
    );
    process.exit(2);
  })
  .help()
  .alias('h', 'help')
  .version()
  .parseAsync()
  .catch(fail);
