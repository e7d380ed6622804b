// Whether dist/ (npm run build) holds the code as it is now: its build stamp is newer than every
// file under cli/ and src/ (TypeScript, SQL, catalogue) and notebooks/. bin/mmreplay.js runs dist/
// when it is fresh; `npm start` builds first when it is not.
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const STAMP = path.join(ROOT, 'dist/.built');
const SOURCES = ['cli', 'src', 'notebooks'];

/** The newest modification time (ms) under dir, 0 when it does not exist. */
function newest(dir) {
  let t = 0;
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

export function distIsFresh() {
  let built;
  try {
    built = fs.statSync(STAMP).mtimeMs;
  } catch {
    return false;
  }
  return SOURCES.every((d) => newest(path.join(ROOT, d)) <= built);
}
