// Starts a worker thread from a module beside the caller: its built JavaScript when there is one
// (dist/), else its TypeScript source loaded through tsx (tsx, vitest).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `js` is the module's URL as built (`new URL('./x-worker.js', import.meta.url)`). */
export function startWorker(
  js: URL,
  workerData: unknown,
  resourceLimits?: WorkerOptions['resourceLimits'],
): Worker {
  if (fs.existsSync(fileURLToPath(js))) return new Worker(js, { workerData, resourceLimits });
  const ts = js.href.replace(/\.js$/, '.ts');
  // tsx's ESM API (require.resolve finds its CommonJS twin beside it).
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const mjs = cjs.replace(/\.cjs$/, '.mjs');
  const tsx = pathToFileURL(fs.existsSync(mjs) ? mjs : cjs).href;
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(ts)}); });`,
    { eval: true, workerData, resourceLimits },
  );
}
