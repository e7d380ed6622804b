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
import { fail } from './output.js';

await yargs(hideBin(process.argv))
  .scriptName('mmreplay')
  .usage('$0 <command> [options]\n\nIngest Linux mm traces into DuckDB, replay them, and ask why device-exclusive ranges failed.')
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
  .demandCommand(1, 'name a command; see --help')
  .strict()
  .fail((msg, err, y) => {
    if (err) fail(err);
    process.stderr.write(`${y.help()}\n\nmmreplay: ${msg}\n`);
    process.exit(2);
  })
  .help()
  .version()
  .parseAsync()
  .catch(fail);
