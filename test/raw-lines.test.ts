// The byte path of text ingest reads a line as the text path does: each reader's scan() agrees with
// its parse() (regexes) on every line it takes, and a print fmt's byte matcher with its regex
// extractor on every body it takes, over the real traces' lines and mutations of them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCorpus, rng } from '../bench/fuzz-core.js';
import { Catalogue } from '../src/parse/catalogue.js';
import { readerFor } from '../src/parse/detect.js';
import { FieldTyper, kprobeTextSpec } from '../src/parse/fields.js';
import { makeByteExtractor } from '../src/parse/format-bytes.js';
import {
  compileFormat,
  makeExtractor,
  parseFormatFile,
  type FieldValue,
} from '../src/parse/format.js';
import { newHeader, newRawHeader, type TraceFormat } from '../src/parse/record.js';

const corpus = loadCorpus();
const r = rng(20261207);
// What a damaged line has: digits, the header's punctuation, spaces, hex and the syscall shapes.
const CHARS = ' 0123456789-:[]()./#=|abcdefxBXsys_ ->';

/** The line and mutations of it, of its characters and of its words (printable ASCII only: what the byte path takes). */
function variants(line: string): string[] {
  const out = [line];
  for (let m = 0; m < 3; m++) {
    let s = line;
    for (let j = 1 + Math.floor(r() * 3); j > 0; j--) {
      const p = Math.floor(r() * (s.length + 1));
      const c = CHARS[Math.floor(r() * CHARS.length)];
      const op = r();
      s =
        op < 0.4
          ? s.slice(0, p) + c + s.slice(p)
          : op < 0.7
            ? s.slice(0, p) + s.slice(p + 1)
            : s.slice(0, p) + c + s.slice(p + 1);
    }
    out.push(s);
  }
  // A word cut short, doubled, dropped or split: the header's columns and the fields' shapes.
  for (let m = 0; m < 4; m++) {
    const w = line.split(' ');
    const i = Math.floor(r() * w.length);
    const op = r();
    if (op < 0.4) w[i] = w[i].slice(0, Math.floor(r() * w[i].length));
    else if (op < 0.6) w.splice(i, 0, w[i]);
    else if (op < 0.8) w.splice(i, 1);
    else {
      const p = Math.floor(r() * (w[i].length + 1));
      w[i] = `${w[i].slice(0, p)} ${w[i].slice(p)}`;
    }
    out.push(w.join(' '));
  }
  return out.filter((s) => /^[\x20-\x7e]*$/.test(s));
}

const json = (v: unknown) =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));

describe('byte path', () => {
  it('scan() reads what parse() reads, in every format, on real and damaged lines', () => {
    let taken = 0;
    const differ: string[] = [];
    for (const src of corpus) {
      for (const format of ['ftrace', 'trace-cmd', 'perf'] as TraceFormat[]) {
        const reader = readerFor(format);
        const h = newHeader();
        const raw = newRawHeader();
        for (const l of src.lines.filter((_, i) => i % 17 === 0).slice(0, 400)) {
          for (const line of variants(l.toString('latin1'))) {
            const b = Buffer.from(`${line}\n`, 'latin1');
            if (!reader.scan(b, 0, b.length - 1, raw)) continue;
            taken++;
            const text = (s: number, e: number) => b.toString('latin1', s, e);
            const got = {
              comm: text(raw.commStart, raw.commEnd),
              tid: raw.tid,
              tgid: raw.tgid < 0 ? null : raw.tgid,
              cpu: raw.cpu < 0 ? null : raw.cpu,
              flags: raw.flagsStart < 0 ? null : text(raw.flagsStart, raw.flagsEnd),
              tsNs: raw.tsNs,
              key: text(raw.keyStart, raw.keyEnd),
              body: text(raw.bodyStart, b.length - 1),
            };
            const res = reader.parse(line, h);
            const want =
              res.kind === 'event'
                ? {
                    comm: h.comm,
                    tid: h.tid,
                    tgid: h.tgid,
                    cpu: h.cpu,
                    flags: h.flags,
                    tsNs: h.tsNs,
                    key: h.event ?? h.name,
                    body: h.body,
                  }
                : res;
            if (json(got) !== json(want))
              differ.push(`${format} ${json(line)}: ${json(got)} / ${json(want)}`);
          }
        }
      }
    }
    expect(differ.slice(0, 5)).toEqual([]);
    expect(taken).toBeGreaterThan(10_000);
  });

  it("a print fmt's byte matcher reads what its regex reads, on real and damaged bodies", () => {
    const typer = new FieldTyper(new Catalogue());
    const catalogue = new Catalogue();
    let taken = 0;
    const differ: string[] = [];
    for (const src of corpus) {
      const reader = readerFor(src.format);
      const h = newHeader();
      for (const l of src.lines.filter((_, i) => i % 5 === 0).slice(0, 1500)) {
        if (reader.parse(l.toString('latin1'), h).kind !== 'event') continue;
        const sys = catalogue.systemOf(h.name);
        const event = h.event ?? (sys ? `${sys}:${h.name}` : null);
        const spec = event ? typer.spec(event) : null;
        if (!spec?.extractBytes) continue;
        for (const body of variants(h.body)) {
          const b = Buffer.from(body, 'latin1');
          const got = spec.extractBytes(b, 0, b.length);
          if (!got) continue;
          taken++;
          const want = spec.extractRow(body);
          if (json(got) !== json(want))
            differ.push(`${event} ${json(body)}: ${json(got)} / ${json(want)}`);
        }
      }
    }
    expect(differ.slice(0, 5)).toEqual([]);
    expect(taken).toBeGreaterThan(10_000);
  });

  it("every catalogue print fmt's byte matcher reads what its regex reads, on text printed by it", () => {
    const dir = path.join(import.meta.dirname, '../src/parse/catalogue');
    const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
    const numbers = [
      '0',
      '1',
      '-1',
      '0x1f',
      '12B',
      'ffff888104b1c000',
      '00000000dc573416',
      '0x7f4b5e5a9000',
    ];
    const words = [
      ...numbers,
      '(null)',
      'abc',
      'GFP_KERNEL|__GFP_ZERO',
      'a b',
      ' x ',
      'B',
      ':',
      '=',
      '',
    ];
    let formats = 0;
    let taken = 0;
    const differ: string[] = [];
    for (const f of fs.readdirSync(dir).filter((x) => /^formats.*\.json$/.test(x))) {
      const { formats: texts } = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as {
        formats: Record<string, string>;
      };
      for (const [key, text] of Object.entries(texts)) {
        const cf = compileFormat(parseFormatFile(text, key.slice(0, key.indexOf(':'))));
        const bytes = makeByteExtractor(cf);
        if (!bytes) continue;
        formats++;
        const regex = makeExtractor(cf, true);
        const row: FieldValue[] = new Array(cf.columns.length).fill(null);
        for (let n = 0; n < 40; n++) {
          // The print fmt's own text with values of every shape in its conversions' places.
          const body = cf.pieces
            .map((p) =>
              'lit' in p
                ? p.lit
                : p.cap === 'bit'
                  ? pick([p.on, p.off, ''])
                  : pick(n % 2 && (p.cap === 'num' || p.cap === 'nonspace') ? numbers : words),
            )
            .join('');
          for (const v of variants(body)) {
            const b = Buffer.from(v, 'latin1');
            const got = bytes(b, 0, b.length);
            if (!got) continue;
            taken++;
            const want = regex(v, row) ? row : null;
            if (json(got) !== json(want))
              differ.push(`${key} ${json(v)}: ${json(got)} / ${json(want)}`);
          }
        }
      }
    }
    expect(differ.slice(0, 5)).toEqual([]);
    expect(formats).toBeGreaterThan(150);
    expect(taken).toBeGreaterThan(10_000);
  });

  it("a kprobe table's byte reader reads what its regexes read, on the lab's real and damaged bodies", () => {
    const lab = path.join(import.meta.dirname, '../traces/lab/6.12');
    const typeSets = [
      {},
      { mm: 'x64', start: 's64', nr_pages: 'u32', ret: 's64', pages: 'string' },
      { ret: 'u64', pte: 's64', name: 'x64' },
    ];
    let taken = 0;
    let events = 0;
    const differ: string[] = [];
    for (const run of [
      'race-thp',
      'hmm-exclusive',
      'hmm-exclusive_cow',
      'hmm-exclusive_mprotect',
    ]) {
      let text = execFileSync('xz', ['-dc', path.join(lab, run, 'trace.txt.xz')], {
        maxBuffer: 1 << 30,
      }).toString('latin1');
      // The shapes the lab's probes do not print: trace-cmd's `(func <- ret_ip)` addresses, a
      // PTE past 2^53 that is no kernel address, signed and too wide values, braces and quotes,
      // upper-case hex.
      if (run === 'race-thp')
        text += [
          '(ffffffff81234560 <- ffffffff81234500) ret=0x0 pte=0xeffffffffdfd7600',
          '(caller+0x4c/0x90 <- func) ret=-12 pte=0x8000000000211025 name="a b"',
          '(f+0x0/0x10) ret=12345678901234567890 pte=-1 name={1,2}',
          '(f+0x0/0x10 <- g+0x0/0x1) ret=0xffffffffffffffff pte=ffff888104b1c000 name=x=y',
          // LA57 addresses and values past 2^53 in a signed and an unsigned column.
          '(f+0x0/0x10) ret=0xff11000000123456 pte=ff11000000123456 name=0x7f110000001234aB',
          '(f+0x0/0x10) ret=7f11000000123456 pte=0X8000000000211025 name=0xff11000000123456',
        ]
          .map((b) => `\n t-1 [000] ..... 1.000000: probe_shapes: ${b}`)
          .join('');
      const reader = readerFor('ftrace');
      const h = newHeader();
      const specs = new Map<string, ReturnType<typeof kprobeTextSpec>[]>();
      for (const line of text.split('\n')) {
        if (reader.parse(line, h).kind !== 'event' || !h.body.startsWith('(')) continue;
        let s = specs.get(h.name);
        if (!s) {
          s = typeSets.map((t) =>
            kprobeTextSpec(`kprobes:${h.name}`, h.body, new Map(Object.entries(t))),
          );
          specs.set(h.name, s);
          events++;
        }
        for (const spec of s) {
          for (const body of variants(h.body)) {
            const b = Buffer.from(body, 'latin1');
            const got = spec?.extractBytes?.(b, 0, b.length);
            if (!got) continue;
            taken++;
            const want = spec!.extractRow(body);
            if (json(got) !== json(want))
              differ.push(`${h.name} ${json(body)}: ${json(got)} / ${json(want)}`);
          }
        }
      }
    }
    expect(differ.slice(0, 5)).toEqual([]);
    expect(events).toBeGreaterThan(5);
    expect(taken).toBeGreaterThan(10_000);
  });
});
