// A compiled print fmt matched over the bytes of an event's printed fields, without a string per
// line: numbers read from the bytes, text values interned (interner.ts). It reads the pieces the
// regex is built from (format.ts compileFormat) and takes, at each step, the choice the regex
// would try first (or, after a number, the one it would try first that can go on); where that
// choice fails it gives up (null) rather than backtrack, and the caller asks the regex. So when it
// answers, the regex would have answered the same; the values are made by the same row filler.
// test/raw-lines.test.ts holds it to that on real, damaged and printed-from-the-fmt text.
import { Interner } from './interner.js';
import {
  kernelHalfBytes,
  makeRowFiller,
  smallIntBytes,
  type Captured,
  type CompiledFormat,
  type FieldValue,
  type Piece,
} from './format.js';

const SPACE = 32;
/** Literal tokens besides a byte: a run of spaces (`\s*`), and `:` or `=` (a `name:` or `name=`). */
const WS = -1;
const COLON_OR_EQ = -2;

const enum T {
  Lit,
  Lazy,
  Rest,
  NonSpace,
  Char,
  Num,
  Bit,
}

/** One step of the matcher, as its source is generated from (matcherSource). */
interface Op {
  t: T;
  /** Lit: its tokens; Bit: `on` and `off` as bytes. */
  tokens: number[];
  off: number[];
  /** The capture's index, its value read as a number of this radix (0: not), its texts (null: unused). */
  k: number;
  radix: number;
  /** Its column is a BIGINT or UBIGINT: a kernel address is read as one too (toValue's kernelHalf). */
  wide: boolean;
  strings: Interner | null;
  /** Lazy: the first token after it, and whether spaces may come before that. */
  anchor: number;
  spaces: boolean;
  /** Num: a hex digit the next literal starts with, where the regex gives digits back to it (-1: none). */
  giveBack: number;
  /** Bit: the alternatives' texts. */
  onText: string;
  offText: string;
}

function op(t: T, fields: Partial<Op>): Op {
  return {
    t,
    tokens: [],
    off: [],
    k: -1,
    radix: 0,
    wide: false,
    strings: null,
    anchor: 0,
    spaces: false,
    giveBack: -1,
    onText: '',
    offText: '',
    ...fields,
  };
}

/** The tokens of a literal, as format.ts's literalRegex reads it. */
function tokens(lit: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < lit.length; i++) {
    if (lit.charCodeAt(i) === SPACE) {
      while (lit.charCodeAt(i + 1) === SPACE) i++;
      out.push(WS);
    } else out.push(lit.charCodeAt(i));
  }
  if (/\w[:=]$/.test(lit)) out[out.length - 1] = COLON_OR_EQ;
  return out;
}

const bytesOf = (s: string) => [...s].map((c) => c.charCodeAt(0));

/**
 * The byte matcher of `cf` over a reused row, values as makeExtractor(cf, true) gives them; null
 * where the print fmt has a shape it does not take (a lazy capture not followed by literal text
 * that is not all spaces).
 * The text it is given must be ASCII whose only whitespace is ' ' (lines.ts `plain`).
 */
export function makeByteExtractor(
  cf: CompiledFormat,
): ((b: Buffer, s: number, e: number) => FieldValue[] | null) | null {
  const ops: Op[] = [];
  const pieces: Piece[] = cf.pieces;
  const columnOf = new Map(cf.columns.map((c) => [c.name, c]));
  let k = 0;
  for (let p = 0; p < pieces.length; p++) {
    const piece = pieces[p];
    if ('lit' in piece) {
      ops.push(op(T.Lit, { tokens: tokens(piece.lit) }));
      continue;
    }
    const cap = cf.captures[k];
    // Whether the filler uses this capture, and whether as a number read here.
    const column = cap.kind === 'skip' ? undefined : columnOf.get(cap.field);
    const strings = column ? new Interner() : null;
    const radix =
      column && column.type !== 'VARCHAR' && (piece.cap === 'num' || piece.cap === 'nonspace')
        ? cap.kind === 'num'
          ? cap.radix
          : cap.kind === 'ptr'
            ? 16
            : 0
        : 0;
    const wide = radix > 0 && (column!.type === 'BIGINT' || column!.type === 'UBIGINT');
    const next = pieces[p + 1];
    const after = next && 'lit' in next ? tokens(next.lit) : null;
    switch (piece.cap) {
      case 'bit':
        ops.push(
          op(T.Bit, {
            k,
            tokens: bytesOf(piece.on),
            off: bytesOf(piece.off),
            onText: piece.on,
            offText: piece.off,
          }),
        );
        break;
      case 'lazy': {
        // Where it ends: before the first place the next literal's first token matches.
        const anchor = after?.find((x) => x !== WS);
        if (anchor === undefined) return null;
        ops.push(op(T.Lazy, { k, strings, anchor, spaces: after![0] === WS }));
        break;
      }
      case 'num': {
        const c = after?.[0] ?? -1;
        const giveBack = c >= 0 && isHex(c) ? c : -1;
        ops.push(op(T.Num, { k, strings, radix, wide, giveBack }));
        break;
      }
      case 'rest':
        ops.push(op(T.Rest, { k, strings }));
        break;
      case 'nonspace':
        ops.push(op(T.NonSpace, { k, strings, radix, wide }));
        break;
      case 'char':
        ops.push(op(T.Char, { k, strings }));
        break;
    }
    k++;
  }
  const fill = makeRowFiller(cf, true);
  const caps: Captured[] = new Array(k).fill(undefined);
  const row: FieldValue[] = new Array(cf.columns.length).fill(null);
  const strings = ops.map((o) => o.strings);
  const texts = ops.map((o) => [o.onText, o.offText]);
  const match = new Function(
    'b',
    's',
    'e',
    'caps',
    'str',
    'num',
    'texts',
    'hex',
    'kh',
    matcherSource(ops),
  ) as (
    b: Buffer,
    s: number,
    e: number,
    caps: Captured[],
    str: (Interner | null)[],
    num: typeof smallIntBytes,
    texts: string[][],
    hex: typeof isHex,
    kh: typeof kernelHalfBytes,
  ) => boolean;
  return (b, s, e) => {
    if (!match(b, s, e, caps, strings, smallIntBytes, texts, isHex, kernelHalfBytes)) return null;
    fill(caps, 0, row);
    return row;
  };
}

/**
 * The matcher's JavaScript, one statement per step (a loop over the steps cost 3-4 ns per byte of
 * text, more than the regex): `at` walks the bytes, `f` is where a capture began.
 */
function matcherSource(ops: Op[]): string {
  const out = ['let at = s, f = 0, d = 0, p = 0, n = 0;'];
  const skipSpaces = 'while (at < e && b[at] === 32) at++;';
  ops.forEach((o, x) => {
    if (o.t !== T.Lit) out.push(`caps[${o.k}] = undefined;`);
    // The capture [from, to) of op x: a number where one is wanted and read, else its text.
    const capture = (from: string, to: string) => {
      if (!o.strings) return;
      const text = `str[${x}].get(b, ${from}, ${to})`;
      // A kernel address (16 hex digits) is read here too, not made a string to read again.
      const wide = o.wide ? `if (n !== n) n = kh(b, ${from}, ${to}, ${o.radix}); ` : '';
      out.push(
        o.radix
          ? `n = num(b, ${from}, ${to}, ${o.radix}); ${wide}caps[${o.k}] = n === n ? n : ${text};`
          : `caps[${o.k}] = ${text};`,
      );
    };
    const isAt = (want: number) =>
      want === COLON_OR_EQ ? '(b[at] === 58 || b[at] === 61)' : `(b[at] === ${want})`;
    const startsWith = (want: number[]) =>
      [`e - at >= ${want.length}`, ...want.map((c, i) => `b[at + ${i}] === ${c}`)].join(' && ');
    switch (o.t) {
      case T.Lit:
        for (const want of o.tokens) {
          if (want === WS) out.push(skipSpaces);
          else out.push(`if (at >= e || !${isAt(want)}) return false; at++;`);
        }
        break;
      case T.Num:
        out.push(
          skipSpaces,
          'f = at;',
          'if (at < e && b[at] === 45) at++;',
          'if (at + 1 < e && b[at] === 48 && b[at + 1] === 120) { at += 2; if (at >= e || !hex(b[at])) return false; }',
          'd = at;',
          'while (at < e && hex(b[at])) at++;',
          'if (at === d) return false;',
        );
        // `size=%luB`: the greedy digits give back to the literal up to its last place in them.
        if (o.giveBack >= 0)
          out.push(
            `p = at - 1; while (p > d && b[p] !== ${o.giveBack}) p--; if (p === d) return false; at = p;`,
          );
        capture('f', 'at');
        break;
      case T.NonSpace:
        out.push('f = at;', 'while (at < e && b[at] !== 32) at++;');
        capture('f', 'at');
        break;
      case T.Char:
        out.push('f = at;', 'if (at < e) at++;');
        capture('f', 'at');
        break;
      case T.Rest:
        capture('at', 'e');
        out.push('at = e;');
        break;
      case T.Lazy:
        out.push(
          'f = at;',
          `while (at < e && !${isAt(o.anchor)}) at++;`,
          'if (at >= e) return false;',
        );
        // The spaces before it are the literal's `\s*`, not the capture's.
        if (o.spaces) out.push('while (at > f && b[at - 1] === 32) at--;');
        capture('f', 'at');
        break;
      case T.Bit:
        out.push(
          `if (${startsWith(o.tokens)}) { at += ${o.tokens.length}; caps[${o.k}] = texts[${x}][0]; }`,
          `else if (${startsWith(o.off)}) { at += ${o.off.length}; caps[${o.k}] = texts[${x}][1]; }`,
        );
        break;
    }
  });
  out.push(skipSpaces, 'return at === e;');
  return out.join('\n');
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
}
