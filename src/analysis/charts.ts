// Vega-Lite to SVG with vega's headless renderer (no canvas, no network). The charts themselves are
// in charts/registry.ts; charts/render.ts writes SVG, PNG (resvg) or the spec.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
