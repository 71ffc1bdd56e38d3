/**
 * A line chart as a standalone SVG file: the curves of docs/benchmarks.md (CPU per request by body
 * size, RSS over time under many streams) drawn from a run's own numbers, so a chart is never older
 * than its table. No dependency: an SVG is text, and the charts need axes, lines, points and a legend.
 */

export interface Series {
  name: string;
  points: [x: number, y: number][];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Logarithmic x axis (body sizes 1 KB … 1 MB). */
  logX?: boolean;
  /** Labels for x ticks; by default the distinct x values of the points (log) or five even steps. */
  xTick?: (x: number) => string;
  /** Horizontal reference lines, e.g. a target or a limit. */
  marks?: { y: number; label: string }[];
}

const W = 720;
const H = 420;
const M = { top: 48, right: 24, bottom: 56, left: 76 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A round step for about five ticks between 0 and max. */
function niceStep(max: number): number {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Round ticks within [lo, hi]. */
function linearTicks(lo: number, hi: number): number[] {
  if (hi <= lo) return [lo];
  const step = niceStep(hi - lo);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function fmtTick(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

export function lineChart(spec: ChartSpec): string {
  const pts = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length === 0) throw new Error(`chart "${spec.title}" has no points`);
  const xs = pts.map(([x]) => x);
  const yMaxData = Math.max(...pts.map(([, y]) => y), ...(spec.marks ?? []).map((m) => m.y));
  const step = niceStep(yMaxData > 0 ? yMaxData : 1);
  const yMax = Math.ceil((yMaxData > 0 ? yMaxData : 1) / step) * step;
  const fx = spec.logX ? Math.log10 : (x: number) => x;
  const x0 = fx(Math.min(...xs));
  const x1 = fx(Math.max(...xs));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x: number) => M.left + (x1 === x0 ? pw / 2 : ((fx(x) - x0) / (x1 - x0)) * pw);
  const py = (y: number) => M.top + ph - (y / yMax) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
  ];
  // y grid and ticks
  for (let y = 0; y <= yMax + step / 2; y += step) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${fmtTick(y)}</text>`);
  }
  // x ticks
  const xTicks = spec.logX ? [...new Set(xs)].sort((a, b) => a - b) : linearTicks(Math.min(...xs), Math.max(...xs));
  const label = spec.xTick ?? fmtTick;
  for (const x of xTicks) {
    out.push(`<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${M.top + ph}" y2="${M.top + ph + 5}" stroke="#333"/>`);
    out.push(`<text x="${px(x).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle">${esc(label(x))}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#333"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" stroke="#333"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  for (const m of spec.marks ?? []) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(m.y).toFixed(1)}" y2="${py(m.y).toFixed(1)}" stroke="#999" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${W - M.right - 4}" y="${(py(m.y) - 5).toFixed(1)}" text-anchor="end" fill="#666">${esc(m.label)}</text>`);
  }
  spec.series.forEach((s, i) => {
    const c = COLOURS[i % COLOURS.length];
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    if (p.length === 0) return;
    const d = p.map(([x, y], j) => `${j ? "L" : "M"}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join(" ");
    out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>`);
    // Points only where they are few enough to read (a sampled time series is a line).
    if (p.length <= 40) for (const [x, y] of p) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${c}"/>`);
    const ly = M.top + 8 + i * 18;
    out.push(`<rect x="${M.left + 12}" y="${ly - 9}" width="14" height="4" fill="${c}"/>`);
    out.push(`<text x="${M.left + 32}" y="${ly - 3}">${esc(s.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
