// `npm run build`'s second step: the files the compiled code reads beside itself (SQL, the
// built-in format catalogue, the bundled notebooks `report` finds at ../notebooks from cli/)
// copied into dist/.
import fs from 'node:fs';

for (const dir of ['src/store/sql', 'src/analysis/sql', 'src/parse/catalogue'])
  fs.cpSync(dir, `dist/${dir}`, { recursive: true });
fs.copyFileSync('src/synth/lab-costs.json', 'dist/src/synth/lab-costs.json');
fs.cpSync('notebooks', 'dist/notebooks', { recursive: true });
// The build stamp bin/mmreplay.js compares the sources with (scripts/dist-fresh.mjs).
fs.writeFileSync('dist/.built', `${new Date().toISOString()}\n`);
