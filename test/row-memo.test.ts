// RowMemo gives the row its extractor gives, whether it remembers the body or not, and gives up
// remembering an event whose bodies vary.
import { describe, expect, it } from 'vitest';
import { Catalogue } from '../src/parse/catalogue.js';
import { FieldTyper } from '../src/parse/fields.js';
import { RowMemo } from '../src/parse/row-memo.js';

const spec = new FieldTyper(new Catalogue()).spec('kmem:rss_stat')!;
const extract = spec.extractBytes!;

/** A body at an offset into a larger buffer, as a batch of lines holds it. */
function at(body: string): [Buffer, number, number] {
  const b = Buffer.from(`xx ${body}\n`, 'latin1');
  return [b, 3, b.length - 1];
}

const rss = (size: number, curr = 1) =>
  `mm_id=2067153216 curr=${curr} type=MM_ANONPAGES size=${size}B`;

describe('RowMemo', () => {
  it('gives the extractor’s row for bodies seen and unseen, and keeps no reused row', () => {
    const memo = new RowMemo();
    let calls = 0;
    const counted = (b: Buffer, s: number, e: number) => (calls++, extract(b, s, e));
    const bodies = [rss(4096), rss(8192), rss(4096), rss(4096, 0), rss(8192)];
    const got = bodies.map((body) => [...memo.row(...at(body), counted)!]);
    expect(got).toEqual(bodies.map((body) => [...extract(...at(body))!]));
    // Three distinct bodies, each matched once.
    expect(calls).toBe(3);
    // A remembered row is a copy: the extractor's own row changes with the next match.
    const first = memo.row(...at(rss(4096)), counted)!;
    extract(...at(rss(12345)));
    expect(first).toEqual([...extract(...at(rss(4096)))!]);
  });

  it('gives null where the extractor does, remembering nothing', () => {
    const memo = new RowMemo();
    expect(memo.row(...at('not an rss_stat body'), extract)).toBeNull();
    expect(memo.row(...at('not an rss_stat body'), extract)).toBeNull();
  });

  it('stops remembering when most bodies differ, still giving the extractor’s rows', () => {
    const memo = new RowMemo();
    let calls = 0;
    const counted = (b: Buffer, s: number, e: number) => (calls++, extract(b, s, e));
    for (let i = 0; i < 4096; i++) memo.row(...at(rss(i)), counted);
    // Given up: a body just seen is matched again.
    calls = 0;
    const again = memo.row(...at(rss(4095)), counted);
    expect(calls).toBe(1);
    expect([...again!]).toEqual([...extract(...at(rss(4095)))!]);
  });

  it('does not remember a long body (the memory it keeps is bounded)', () => {
    const memo = new RowMemo();
    let calls = 0;
    const counted = (b: Buffer, s: number, e: number) => (calls++, extract(b, s, e));
    const long = rss(4096) + ' '.repeat(300);
    memo.row(...at(long), counted);
    memo.row(...at(long), counted);
    expect(calls).toBe(2);
  });
});
