// Evaluates an event's `print fmt` arguments (C expressions over `REC->field`) on a binary
// record, for what the text readers take from the printed text: `__print_symbolic` names,
// `__print_flags` strings, `cond ? REC->x : 0`. Only the constructs format files use are read;
// anything else (`vmemmap_base`, `sizeof`, helpers like `__print_hex`) makes the argument
// unevaluable and its column NULL.

export type CValue = bigint | string | CValue[];

type Node =
  | { k: 'num'; v: bigint }
  | { k: 'str'; v: string }
  | { k: 'field'; name: string }
  | { k: 'list'; items: Node[] }
  | { k: 'call'; fn: string; args: Node[] }
  | { k: 'cast'; bits: number; signed: boolean; e: Node }
  | { k: 'un'; op: string; e: Node }
  | { k: 'bin'; op: string; a: Node; b: Node }
  | { k: 'cond'; c: Node; a: Node; b: Node };

export class Unevaluable extends Error {}

const TOKEN =
  /\s*(0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)'|->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!<>?:(){},.[\]])/y;

function tokenize(s: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let i = 0;
  for (;;) {
    while (i < s.length && /\s/.test(s[i])) i++;
    if (i >= s.length) return out;
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(s);
    if (!m) throw new Unevaluable(`cannot read "${s.slice(i, i + 20)}"`);
    out.push(m[1]);
    i = TOKEN.lastIndex;
  }
}

/** C integer types a cast may name, by width; others (pointers, unknown typedefs) change nothing. */
const CAST_TYPES: Record<string, [number, boolean]> = {
  char: [8, true],
  'signed char': [8, true],
  'unsigned char': [8, false],
  u8: [8, false],
  s8: [8, true],
  short: [16, true],
  'unsigned short': [16, false],
  u16: [16, false],
  s16: [16, true],
  int: [32, true],
  'signed int': [32, true],
  'unsigned int': [32, false],
  unsigned: [32, false],
  u32: [32, false],
  s32: [32, true],
  long: [64, true],
  'unsigned long': [64, false],
  'long long': [64, true],
  'unsigned long long': [64, false],
  u64: [64, false],
  s64: [64, true],
};

const BINARY: [string[], number][] = [
  [['||'], 1],
  [['&&'], 2],
  [['|'], 3],
  [['^'], 4],
  [['&'], 5],
  [['==', '!='], 6],
  [['<', '>', '<=', '>='], 7],
  [['<<', '>>'], 8],
  [['+', '-'], 9],
  [['*', '/', '%'], 10],
];
const PREC = new Map<string, number>(
  BINARY.flatMap(([ops, p]) => ops.map((o) => [o, p] as [string, number])),
);

class Parser {
  private i = 0;
  constructor(private readonly t: string[]) {}

  private peek(n = 0): string | undefined {
    return this.t[this.i + n];
  }

  private take(want?: string): string {
    const x = this.t[this.i++];
    if (x === undefined || (want !== undefined && x !== want))
      throw new Unevaluable(`expected ${want ?? 'more'}, got ${x ?? 'end'}`);
    return x;
  }

  parseAll(): Node {
    const e = this.expr();
    if (this.i !== this.t.length) throw new Unevaluable(`unexpected ${this.peek()}`);
    return e;
  }

  expr(): Node {
    const c = this.binary(1);
    if (this.peek() !== '?') return c;
    this.take('?');
    const a = this.expr();
    this.take(':');
    const b = this.expr();
    return { k: 'cond', c, a, b };
  }

  private binary(min: number): Node {
    let a = this.unary();
    for (;;) {
      const op = this.peek();
      const p = op === undefined ? undefined : PREC.get(op);
      if (p === undefined || p < min) return a;
      this.take();
      const b = this.binary(p + 1);
      a = { k: 'bin', op: op!, a, b };
    }
  }

  /** `(type words *)` at the cursor: its token count, or 0 when the parenthesis is not a cast. */
  private castLength(): number {
    if (this.peek() !== '(') return 0;
    let j = 1;
    const words: string[] = [];
    for (;;) {
      const x = this.peek(j);
      if (x === undefined) return 0;
      if (x === ')') break;
      if (x !== '*' && !/^[A-Za-z_]\w*$/.test(x)) return 0;
      if (x === 'REC' || x === 'sizeof') return 0;
      words.push(x);
      j++;
    }
    if (!words.length) return 0;
    // `(x)` alone is a parenthesised name, unless it names a type.
    if (words.length === 1 && !(words[0] in CAST_TYPES) && !/_t$/.test(words[0])) return 0;
    return j + 1;
  }

  private unary(): Node {
    const x = this.peek();
    if (x === '-' || x === '~' || x === '!' || x === '+') {
      this.take();
      return { k: 'un', op: x, e: this.unary() };
    }
    const n = this.castLength();
    if (n) {
      const words = this.t
        .slice(this.i + 1, this.i + n - 1)
        .filter((w) => w !== 'const' && w !== 'volatile' && w !== 'struct' && w !== 'enum');
      this.i += n;
      const e = this.unary();
      const ty = words.includes('*') ? undefined : CAST_TYPES[words.join(' ')];
      return ty ? { k: 'cast', bits: ty[0], signed: ty[1], e } : e;
    }
    return this.postfix();
  }

  private postfix(): Node {
    const x = this.take();
    if (x === '(') {
      const e = this.expr();
      this.take(')');
      return e;
    }
    if (x === '{') {
      const items: Node[] = [];
      while (this.peek() !== '}') {
        items.push(this.expr());
        if (this.peek() === ',') this.take();
      }
      this.take('}');
      return { k: 'list', items };
    }
    if (/^\d/.test(x)) return { k: 'num', v: BigInt(x.replace(/[uUlL]+$/, '')) };
    if (x[0] === '"') {
      let s = JSON.parse(x) as string;
      // Adjacent literals concatenate.
      while (this.peek()?.[0] === '"') s += JSON.parse(this.take()) as string;
      return { k: 'str', v: s };
    }
    if (x[0] === "'") return { k: 'num', v: BigInt(x.charCodeAt(1)) };
    if (x === 'REC') {
      this.take('->');
      return { k: 'field', name: this.take() };
    }
    if (/^[A-Za-z_]/.test(x) && this.peek() === '(') {
      this.take('(');
      const args: Node[] = [];
      while (this.peek() !== ')') {
        args.push(this.expr());
        if (this.peek() === ',') this.take();
      }
      this.take(')');
      return { k: 'call', fn: x, args };
    }
    throw new Unevaluable(`cannot evaluate "${x}"`);
  }
}

/** A compiled print argument: evaluate(get) with get(field) giving the record's field value. */
export interface PrintArg {
  /** The REC fields it reads. */
  fields: string[];
  evaluate(get: (field: string) => bigint | string): CValue;
}

export function compilePrintArg(source: string): PrintArg {
  const node = new Parser(tokenize(source)).parseAll();
  const fields = new Set<string>();
  const walk = (n: Node) => {
    switch (n.k) {
      case 'field':
        fields.add(n.name);
        break;
      case 'list':
        n.items.forEach(walk);
        break;
      case 'call':
        n.args.forEach(walk);
        break;
      case 'cast':
      case 'un':
        walk(n.e);
        break;
      case 'bin':
        walk(n.a);
        walk(n.b);
        break;
      case 'cond':
        walk(n.c);
        walk(n.a);
        walk(n.b);
        break;
    }
  };
  walk(node);
  // Constant sub-expressions (the flag and symbol tables) are evaluated once.
  const consts = new Map<Node, CValue>();
  const constant = (n: Node): boolean => {
    switch (n.k) {
      case 'num':
      case 'str':
        return true;
      case 'field':
      case 'call':
        return false;
      case 'list':
        return n.items.every(constant);
      case 'cast':
      case 'un':
        return constant(n.e);
      case 'bin':
        return constant(n.a) && constant(n.b);
      case 'cond':
        return constant(n.c) && constant(n.a) && constant(n.b);
    }
  };
  const fold = (n: Node) => {
    if (n.k !== 'num' && n.k !== 'str' && constant(n)) {
      consts.set(
        n,
        closure(
          n,
          consts,
        )(() => {
          throw new Unevaluable('constant reads a field');
        }),
      );
      return;
    }
    if (n.k === 'list') n.items.forEach(fold);
    else if (n.k === 'call') n.args.forEach(fold);
  };
  fold(node);
  return { fields: [...fields], evaluate: closure(node, consts) };
}

type Get = (field: string) => bigint | string;
type Eval = (get: Get) => CValue;

/**
 * `n` as a tree of closures, made once: evaluating it walks no nodes and looks nothing up (per
 * record: the derived columns of page-allocator events, a million records a second).
 */
function closure(n: Node, consts: Map<Node, CValue>): Eval {
  const c = consts.get(n);
  if (c !== undefined) return () => c;
  const sub = (m: Node) => closure(m, consts);
  switch (n.k) {
    case 'num':
    case 'str': {
      const v = n.v;
      return () => v;
    }
    case 'field': {
      const name = n.name;
      return (get) => get(name);
    }
    case 'list': {
      const items = n.items.map(sub);
      return (get) => items.map((i) => i(get));
    }
    case 'cast': {
      const e = sub(n.e);
      const bits = n.bits;
      return n.signed
        ? (get) => BigInt.asIntN(bits, num(e(get)))
        : (get) => BigInt.asUintN(bits, num(e(get)));
    }
    case 'un': {
      const e = sub(n.e);
      switch (n.op) {
        case '-':
          return (get) => -num(e(get));
        case '~':
          return (get) => ~num(e(get));
        case '!':
          return (get) => (num(e(get)) === 0n ? 1n : 0n);
      }
      return (get) => num(e(get));
    }
    case 'cond': {
      const [cc, a, b] = [sub(n.c), sub(n.a), sub(n.b)];
      return (get) => (num(cc(get)) !== 0n ? a(get) : b(get));
    }
    case 'bin': {
      const [a, b] = [sub(n.a), sub(n.b)];
      const op = binary(n.op);
      if (n.op === '&&') return (get) => (num(a(get)) !== 0n && num(b(get)) !== 0n ? 1n : 0n);
      if (n.op === '||') return (get) => (num(a(get)) !== 0n || num(b(get)) !== 0n ? 1n : 0n);
      return (get) => op(num(a(get)), num(b(get)));
    }
    case 'call': {
      const fn = n.fn;
      const args = n.args.map(sub);
      return (get) =>
        call(
          fn,
          args.map((a) => a(get)),
        );
    }
  }
}

/** A binary operator on two numbers (the logical ones short-circuit in closure()). */
function binary(op: string): (a: bigint, b: bigint) => bigint {
  switch (op) {
    case '|':
      return (a, b) => a | b;
    case '^':
      return (a, b) => a ^ b;
    case '&':
      return (a, b) => a & b;
    // `REC->pfn != -1UL`: compared as the 64-bit words they are.
    case '==':
      return (a, b) => (BigInt.asUintN(64, a) === BigInt.asUintN(64, b) ? 1n : 0n);
    case '!=':
      return (a, b) => (BigInt.asUintN(64, a) !== BigInt.asUintN(64, b) ? 1n : 0n);
    case '<':
      return (a, b) => (a < b ? 1n : 0n);
    case '>':
      return (a, b) => (a > b ? 1n : 0n);
    case '<=':
      return (a, b) => (a <= b ? 1n : 0n);
    case '>=':
      return (a, b) => (a >= b ? 1n : 0n);
    case '<<':
      return (a, b) => BigInt.asUintN(64, a << b);
    case '>>':
      return (a, b) => a >> b;
    case '+':
      return (a, b) => a + b;
    case '-':
      return (a, b) => a - b;
    case '*':
      return (a, b) => a * b;
    case '/':
      return (a, b) => {
        if (b === 0n) throw new Unevaluable('division by zero');
        return a / b;
      };
    case '%':
      return (a, b) => {
        if (b === 0n) throw new Unevaluable('division by zero');
        return a % b;
      };
  }
  return () => {
    throw new Unevaluable(`operator ${op}`);
  };
}

function num(v: CValue): bigint {
  if (typeof v !== 'bigint') throw new Unevaluable('expected a number');
  return v;
}

/** `{ value, "name" }` entries, up to a `{ 0, NULL }` terminator (newer kernels add one). */
function pairs(entries: CValue[]): [bigint, string][] {
  const out: [bigint, string][] = [];
  for (const e of entries) {
    if (!Array.isArray(e) || e.length !== 2) throw new Unevaluable('expected { value, "name" }');
    if (e[1] === 0n) break;
    if (typeof e[1] !== 'string') throw new Unevaluable('expected { value, "name" }');
    out.push([num(e[0]), e[1]]);
  }
  return out;
}

/** The kernel's trace_print_flags_seq / trace_print_symbols_seq (kernel/trace/trace_output.c). */
function call(fn: string, args: CValue[]): CValue {
  switch (fn) {
    case '__print_flags':
    case '__print_flags_u64': {
      let flags = BigInt.asUintN(64, num(args[0]));
      const delim = args[1];
      if (typeof delim !== 'string') throw new Unevaluable('__print_flags delimiter');
      const parts: string[] = [];
      for (const [mask0, name] of pairs(args.slice(2))) {
        if (flags === 0n) break;
        const mask = BigInt.asUintN(64, mask0);
        if ((flags & mask) !== mask) continue;
        flags &= ~mask;
        parts.push(name);
      }
      if (flags) parts.push(`0x${flags.toString(16)}`);
      return parts.join(delim);
    }
    case '__print_symbolic':
    case '__print_symbolic_u64': {
      const v = BigInt.asUintN(64, num(args[0]));
      for (const [val, name] of pairs(args.slice(1)))
        if (BigInt.asUintN(64, val) === v) return name;
      return `0x${v.toString(16)}`;
    }
    case '__get_str':
    case '__get_rel_str':
      // The parser read `__get_str(name)` as a call on the bare name: not reached (see fields).
      throw new Unevaluable(fn);
  }
  throw new Unevaluable(`${fn}()`);
}
