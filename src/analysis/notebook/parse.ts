// A notebook is Markdown: prose, and fenced blocks the report executes:
//
//   ```sql name=by_size limit=20      a query over the view library; its rows are shown as a table
//                                     (`show=false` hides it) and kept under `name` for charts
//   ```chart failure-by-size request=66   a built-in chart (src/analysis/charts/registry.ts)
//   ```vega-lite data=by_size         a Vega-Lite spec (JSON) drawn over a named query's rows
//   ```include other.md               another notebook, inlined
//
// A front matter block (`---` lines) gives `title:` and parameters (`name: default`), which SQL
// reads as `${name}` (the text) or `${name:list}` (a comma list as quoted SQL strings).

export type Block =
  | { kind: 'markdown'; text: string }
  | {
      kind: 'sql' | 'chart' | 'vega-lite' | 'include' | 'code';
      lang: string;
      arg: string;
      opts: Record<string, string>;
      text: string;
      line: number;
    };

export interface Notebook {
  title: string;
  params: Record<string, string>;
  blocks: Block[];
}

export function parseNotebook(text: string): Notebook {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const params: Record<string, string> = {};
  let title = '';
  let i = 0;
  if (lines[0] === '---') {
    for (i = 1; i < lines.length && lines[i] !== '---'; i++) {
      const m = /^([\w-]+):\s*(.*)$/.exec(lines[i]);
      if (!m) continue;
      if (m[1] === 'title') title = m[2].trim();
      else params[m[1]] = m[2].trim();
    }
    i++;
  }
  const blocks: Block[] = [];
  let md: string[] = [];
  const flush = () => {
    if (md.join('').trim()) blocks.push({ kind: 'markdown', text: md.join('\n') });
    md = [];
  };
  for (; i < lines.length; i++) {
    const f = /^```(\S*)\s*(.*)$/.exec(lines[i]);
    if (!f) {
      md.push(lines[i]);
      continue;
    }
    flush();
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    const lang = f[1];
    const words = f[2].split(/\s+/).filter(Boolean);
    const opts = Object.fromEntries(
      words
        .filter((w) => w.includes('='))
        .map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
    );
    const arg = words.find((w) => !w.includes('=')) ?? '';
    const kind =
      lang === 'sql' || lang === 'chart' || lang === 'vega-lite' || lang === 'include'
        ? lang
        : 'code';
    blocks.push({ kind, lang, arg, opts, text: body.join('\n'), line: start });
  }
  flush();
  if (!title) {
    const h = blocks.find((b) => b.kind === 'markdown' && /^#\s/m.test(b.text));
    title = h ? /^#\s+(.*)$/m.exec(h.text)![1] : 'mmreplay report';
  }
  return { title, params, blocks };
}

/** `${name}` and `${name:list}` in SQL, from the notebook's parameters. */
export function substitute(sql: string, params: Record<string, string>, lenient = false): string {
  return sql.replace(/\$\{(\w+)(:list)?\}/g, (m, name: string, list?: string) => {
    if (!(name in params) && lenient) return m;
    if (!(name in params))
      throw new Error(
        `notebook parameter \${${name}} is not set (set it in the front matter or with --set ${name}=...)`,
      );
    const v = params[name];
    return list
      ? v
          .split(',')
          .map((s) => `'${s.trim().replace(/'/g, "''")}'`)
          .join(', ')
      : v;
  });
}
