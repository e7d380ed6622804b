// The bench scripts' command line: `--name value` options taken out of the arguments as read.

export const args = process.argv.slice(2);

/** The value after `name`, removed with it from `args`; undefined when absent. */
export function opt(name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}
