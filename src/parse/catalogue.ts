// Which events exist and how their fields are printed: the built-in catalogue (format files
// snapshotted from Linux 6.18 by scripts/snapshot-catalogue.mjs) overlaid by format files saved
// beside a trace (`formats/<system>/<event>/format`, as `mmreplay record` and the lab write them).
// The catalogues of the other kernels we model (formats-6.12.json, formats-6.1.json, from the lab's
// format files) are the alternates tried when an event's text does not fit the first choice.
import fs from 'node:fs';
import path from 'node:path';
import { compileFormat, parseFormatFile, type CompiledFormat, type EventFormat } from './format.js';

const HERE = path.dirname(new URL(import.meta.url).pathname);

interface BuiltIn {
  release: string;
  formats: Record<string, string>;
}

/** Formats by `system:name`, each parsed at its first lookup (found()). */
type Formats = Map<string, EventFormat | (() => EventFormat)>;

function found(formats: Formats, event: string): EventFormat | undefined {
  const f = formats.get(event);
  if (typeof f !== 'function') return f;
  const parsed = f();
  formats.set(event, parsed);
  return parsed;
}

/** A catalogue file's format texts, to be parsed at their first lookup. */
function textFormats(json: BuiltIn): Formats {
  const formats: Formats = new Map();
  for (const [key, text] of Object.entries(json.formats))
    formats.set(key, () => parseFormatFile(text, key.slice(0, key.indexOf(':'))));
  return formats;
}

let builtIn: {
  release: string;
  formats: Formats;
  systems: Map<string, string>;
} | null = null;

function loadBuiltIn() {
  if (builtIn) return builtIn;
  const json = JSON.parse(
    fs.readFileSync(path.join(HERE, 'catalogue/formats.json'), 'utf8'),
  ) as BuiltIn;
  const formats = textFormats(json);
  const systems = new Map<string, string>();
  for (const line of fs
    .readFileSync(path.join(HERE, 'catalogue/available_events.txt'), 'utf8')
    .split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) {
      const name = line.slice(i + 1);
      if (!systems.has(name)) systems.set(name, line.slice(0, i));
    }
  }
  builtIn = { release: json.release, formats, systems };
  return builtIn;
}

/** Other kernels' catalogues, newest first: formats-MAJOR.MINOR.json beside formats.json. */
let others: { release: string; formats: Formats }[] | null = null;

function loadOthers() {
  if (others) return others;
  const dir = path.join(HERE, 'catalogue');
  others = fs
    .readdirSync(dir)
    .filter((f) => /^formats-\d+\.\d+\.json$/.test(f))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as BuiltIn)
    .sort((a, b) => b.release.localeCompare(a.release, 'en', { numeric: true }))
    .map((json) => ({ release: json.release, formats: textFormats(json) }));
  return others;
}

export class Catalogue {
  /** Formats and systems added to this catalogue; the built-in ones are looked up after them
   *  (not copied: a catalogue is made per file, thousands of times by the binary fuzz). */
  private formats: Formats = new Map();
  private systems = new Map<string, string>();
  private compiled = new Map<string, CompiledFormat | null>();
  private readonly builtIn = loadBuiltIn();
  readonly sources: string[] = [`built-in (Linux ${this.builtIn.release})`];

  /** Adds every `<system>/<event>/format` under dir; they take precedence over built-ins. */
  addFormatsDir(dir: string): number {
    let n = 0;
    for (const sys of fs.readdirSync(dir)) {
      const sdir = path.join(dir, sys);
      if (!fs.statSync(sdir).isDirectory()) continue;
      for (const ev of fs.readdirSync(sdir)) {
        const f = path.join(sdir, ev, 'format');
        if (!fs.existsSync(f)) continue;
        const fmt = parseFormatFile(fs.readFileSync(f, 'utf8'), sys);
        this.formats.set(`${sys}:${fmt.name}`, fmt);
        this.systems.set(fmt.name, sys);
        this.compiled.delete(`${sys}:${fmt.name}`);
        n++;
      }
    }
    this.sources.push(dir);
    return n;
  }

  /** Adds format texts keyed `system:name` (a `mmreplay record` sidecar's `formats`). */
  addFormats(formats: Record<string, string>, source: string): void {
    for (const [key, text] of Object.entries(formats)) {
      const sys = key.slice(0, key.indexOf(':'));
      const fmt = parseFormatFile(text, sys);
      this.formats.set(`${sys}:${fmt.name}`, fmt);
      this.systems.set(fmt.name, sys);
      this.compiled.delete(`${sys}:${fmt.name}`);
    }
    this.sources.push(source);
  }

  /**
   * Adds the formats of `events` (`system:name`), which `parse` gives at their first lookup: a
   * binary trace's embedded ones, thousands of which it uses a few.
   */
  addLazy(events: Iterable<string>, parse: (event: string) => EventFormat, source: string): void {
    for (const event of events) {
      this.formats.set(event, () => parse(event));
      this.systems.set(event.slice(event.indexOf(':') + 1), event.slice(0, event.indexOf(':')));
      this.compiled.delete(event);
    }
    this.sources.push(source);
  }

  /** `system:name` for a bare event name, or null when no catalogue knows it. */
  systemOf(name: string): string | null {
    return this.systems.get(name) ?? this.builtIn.systems.get(name) ?? null;
  }

  format(event: string): EventFormat | null {
    return found(this.formats, event) ?? found(this.builtIn.formats, event) ?? null;
  }

  /** The event's format in the other kernels' catalogues, with each one's release, when it differs from this one's. */
  alternates(event: string): { release: string; format: CompiledFormat }[] {
    const mine = this.format(event);
    return loadOthers()
      .map((o) => ({ release: o.release, f: found(o.formats, event) }))
      .filter(
        (o): o is { release: string; f: EventFormat } =>
          o.f !== undefined && o.f.printFmt !== mine?.printFmt,
      )
      .map((o) => ({ release: o.release, format: compileFormat(o.f) }));
  }

  compiledFormat(event: string): CompiledFormat | null {
    let c = this.compiled.get(event);
    if (c === undefined) {
      const f = this.format(event);
      c = f ? compileFormat(f) : null;
      this.compiled.set(event, c);
    }
    return c;
  }
}

/** The `mmreplay record` sidecar of a trace (`TRACE.json`, compressed or not), if there is one. */
export function sidecarBeside(tracePath: string): string | null {
  const base = tracePath.replace(/\.(gz|xz|zst|zstd)$/, '');
  const p = `${base}.json`;
  return fs.existsSync(p) ? p : null;
}

/** The formats directory conventionally saved beside a trace, if there is one. */
export function formatsBeside(tracePath: string): string | null {
  const d = path.join(path.dirname(tracePath), 'formats');
  return fs.existsSync(d) && fs.statSync(d).isDirectory() ? d : null;
}
