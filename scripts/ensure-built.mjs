// `npm start` (prestart): builds dist/ when it is missing or older than the sources, so a fresh
// clone runs with `npm install && npm start` and bin/mmreplay.js starts from JavaScript.
import { execFileSync } from 'node:child_process';
import { ROOT, distIsFresh } from './dist-fresh.mjs';

if (!distIsFresh()) {
  process.stdout.write('building dist/ (npm run build)\n');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
}
