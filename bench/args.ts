// The bench scripts' command line (`--name value` options taken out of the arguments as read), and
// the baseline tree the compare benches run beside this one.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const args = process.argv.slice(2);

// --help (or -h): the script's own header comment, which says how to call it.
if (args.includes('--help') || args.includes('-h')) {
  const head = fs.readFileSync(process.argv[1], 'utf8').split('\n');
  const end = head.findIndex((l) => !l.startsWith('//'));
  process.stdout.write(
    `${head
      .slice(0, end)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n')}\n`,
  );
  process.exit(0);
}

/** The value after `name`, removed with it from `args`; undefined when absent. */
export function opt(name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}

/** `rev`'s src/ and package.json unpacked into dir/base, with this checkout's node_modules. */
export function baseTree(root: string, rev: string, dir: string): string {
  const tree = path.join(dir, 'base');
  fs.mkdirSync(tree);
  execFileSync('sh', [
    '-c',
    `git -C '${root}' archive '${rev}' src package.json | tar -x -C '${tree}'`,
  ]);
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(tree, 'node_modules'));
  return tree;
}
