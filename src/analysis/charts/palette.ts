// Fixed colours, so a category keeps its colour across charts and never shares one with another
// kind of category: designs are blue/orange/teal, the kernel is near-black, outcomes are greys and
// warm reds/purples, PTE states their own set.

export const DESIGN_COLORS: Record<string, string> = {
  '5.14': '#4c78a8',
  v8: '#f58518',
  '6.15': '#54a24b',
  kernel: '#222222',
};

export const OUTCOME_COLORS: Record<string, string> = {
  '0': '#c7c7c7',
  '-EBUSY': '#d62728',
  '-ENOENT': '#9467bd',
  '-EFAULT': '#8c564b',
};

export const PAGE_OUTCOME_COLORS: Record<string, string> = {
  exclusive: '#9ecae9',
  failed: '#d62728',
};

export const CAUSE_COLORS: Record<string, string> = {
  replaced: '#d62728',
  write_protected: '#ff9896',
  mapped_elsewhere: '#9467bd',
  trylock_failed: '#8c564b',
  tail_page: '#e377c2',
  not_anon: '#7f7f7f',
  gup_short: '#bcbd22',
};

export const PTE_COLORS: Record<string, string> = {
  'present rw': '#9ecae9',
  'present ro': '#fdd0a2',
  device_exclusive: '#31a354',
  none: '#eeeeee',
  swap: '#bcbddc',
  migration: '#fdae6b',
  device_private: '#a1d99b',
};

/** A Vega-Lite scale with the given categories (in order) and their colours. */
export function scale(
  colors: Record<string, string>,
  present?: string[],
): { domain: string[]; range: string[] } {
  const domain = Object.keys(colors).filter((k) => !present || present.includes(k));
  for (const p of present ?? []) if (!domain.includes(p)) domain.push(p);
  return { domain, range: domain.map((d) => colors[d] ?? '#888888') };
}
