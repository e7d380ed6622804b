// The bench scripts' command line (`--name value` options taken out of the arguments as read), and
// the baseline tree the compare benches run beside this one.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const args = process.argv.slice(2);

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
