// The stages' import order (issue 15): a file under src/ imports only its own layer and the ones
// before it. Data flows record -> parse -> ingest -> store -> replay -> analysis, but store is the
// base every stage writes through, so it sits below ingest (it reads parse's types, nothing later);
// the loose files at the top of src/ (errors.ts, paths.ts) come first, synth may import any stage,
// and nothing in src/ imports cli/ or anything else outside src/.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');

/** Earliest first; '' is the files directly in src/. */
const LAYERS = ['', 'record', 'parse', 'store', 'ingest', 'replay', 'analysis', 'synth'];

/** The layer of a path relative to the repository: its index, LAYERS.length outside src/. */
function layerOf(rel: string): number {
  const parts = rel.split('/');
  if (parts[0] !== 'src') return LAYERS.length;
  const layer = parts.length === 2 ? '' : parts[1];
  const i = LAYERS.indexOf(layer);
  if (i < 0) throw new Error(`src/${layer}/ has no layer: add it to LAYERS in test/layers.test.ts`);
  return i;
}

function name(i: number): string {
  return i === LAYERS.length ? 'outside src/' : LAYERS[i] === '' ? 'src/*.ts' : LAYERS[i];
}

/** Every relative specifier (import, import type, export from, import()) of a source text. */
function specifiers(text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith('.'));
}

/** `file -> target (layer -> layer)` for each import of `text` (at `file`) that goes backward. */
function backwardImports(file: string, text: string): string[] {
  const from = layerOf(file);
  const out: string[] = [];
  for (const s of specifiers(text)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), s));
    const to = layerOf(target);
    if (to > from) out.push(`${file} -> ${target} (${name(from)} -> ${name(to)})`);
  }
  return out;
}

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? sources(path.join(dir, e.name))
        : e.name.endsWith('.ts')
          ? [path.join(dir, e.name)]
          : [],
    );
}

describe('layers', () => {
  it('no file under src/ imports a later stage', () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(50);
    const backward: string[] = [];
    let imports = 0;
    for (const f of files) {
      const rel = path.relative(ROOT, f).split(path.sep).join('/');
      const text = fs.readFileSync(f, 'utf8');
      imports += specifiers(text).length;
      backward.push(...backwardImports(rel, text));
    }
    expect(imports).toBeGreaterThan(100);
    expect(backward).toEqual([]);
  });

  it('catches a backward import in each form', () => {
    const text = [
      "import { Db } from '../store/db.js';",
      "import type { BinaryCursor } from '../ingest/binary.js';",
      "export { replay } from '../replay/replay.js';",
      "const m = await import('../analysis/views.js');",
      "import { main } from '../../cli/main.js';",
      "import { UsageError } from '../errors.js';",
      "import { bytes } from './binary/bytes.js';",
      "// import { ignored } from '../analysis/info.js';",
    ].join('\n');
    expect(backwardImports('src/parse/x.ts', text)).toEqual([
      'src/parse/x.ts -> src/store/db.js (parse -> store)',
      'src/parse/x.ts -> src/ingest/binary.js (parse -> ingest)',
      'src/parse/x.ts -> src/replay/replay.js (parse -> replay)',
      'src/parse/x.ts -> src/analysis/views.js (parse -> analysis)',
      'src/parse/x.ts -> cli/main.js (parse -> outside src/)',
    ]);
    expect(backwardImports('src/synth/x.ts', "import { a } from '../analysis/views.js';")).toEqual(
      [],
    );
    expect(() => backwardImports('src/foo/x.ts', '')).toThrow(/no layer/);
  });
});
