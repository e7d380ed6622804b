#!/usr/bin/env node
// Runs the built CLI (dist/, `npm run build`) when it is up to date with the sources; otherwise,
// in a development checkout, the TypeScript through tsx's loader (slower to start: it compiles).
import { distIsFresh } from '../scripts/dist-fresh.mjs';

if (distIsFresh()) {
  await import('../dist/cli/main.js');
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write(
      'mmreplay: the built CLI is missing or older than its sources: run `npm run build`\n',
    );
    process.exit(2);
  }
  register();
  await import('../cli/main.ts');
}
