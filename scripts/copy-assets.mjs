// `npm run build`'s second step: the files the compiled code reads beside itself (SQL, the
// built-in format catalogue) copied into dist/.
import fs from 'node:fs';

for (const dir of ['src/analysis/sql', 'src/parse/catalogue'])
  fs.cpSync(dir, `dist/${dir}`, { recursive: true });
fs.copyFileSync('src/synth/lab-costs.json', 'dist/src/synth/lab-costs.json');
