/**
 * The charts of a drill report, hand-made inline SVG (no library, nothing fetched at view
 * time): rate lines over time and a readiness band, with the fault window shaded. Every series
 * has one point per timeline sample, so a chart shows exactly what was sampled.
 */
import { esc } from '../bench/report.ts';
import type { RecordedTimeline, TimelineSample } from './timeline.ts';

export interface Series {
  label: string;
  color: string;
  /** One value per sample. */
  values: number[];
}

const W = 900;
const LEFT = 64;
const RIGHT = 16;
const TOP = 40;
const PLOT_W = W - LEFT - RIGHT;

/**
 * Per-second rates of a cumulative counter, one per sample (the first is 0): each over the
 * samples of at least the last `minDtMs` (a sample a mark() took just after a tick would
 * otherwise make a spike of noise). A drop is a counter reset (a restarted server), as
 * Prometheus' rate() reads it.
 */
export function rates(samples: readonly TimelineSample[], get: (s: TimelineSample) => number | undefined, minDtMs = 200): number[] {
  const increase: number[] = [];
  samples.forEach((s, i) => {
    const prev = i === 0 ? 0 : get(samples[i - 1]!) ?? 0;
    const cur = get(s) ?? 0;
    increase.push(i === 0 ? 0 : increase[i - 1]! + (cur >= prev ? cur - prev : cur));
  });
  let j = 0;
  return samples.map((s, i) => {
    while (j + 1 < i && s.t - samples[j + 1]!.t >= minDtMs) j++;
    const dt = (s.t - samples[j]!.t) / 1000;
    return i === 0 || dt <= 0 ? 0 : (increase[i]! - increase[j]!) / dt;
  });
}

/** 1, 2 or 5 × 10^k: a tick step giving about `target` ticks up to `max`. */
function niceStep(max: number, target: number): number {
  const raw = max / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
}

const fmt = (v: number): string => (v >= 10 || Number.isInteger(v) ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
const num = (v: number): string => (Math.round(v * 10) / 10).toString();

interface Frame {
  tMaxS: number;
  x(ms: number): number;
}

export function frame(tl: RecordedTimeline): Frame {
  const last = Math.max(tl.samples.at(-1)?.t ?? 0, tl.faultEndMs ?? 0, tl.faultStartMs ?? 0);
  const step = niceStep(Math.max(last / 1000, 1), 10);
  const tMaxS = Math.max(step, Math.ceil(last / 1000 / step) * step);
  return { tMaxS, x: (ms) => LEFT + (ms / 1000 / tMaxS) * PLOT_W };
}

/** The x axis (seconds from the drill's start) and the shaded fault window. */
function timeAxis(f: Frame, tl: RecordedTimeline, top: number, bottom: number, outline = false): { under: string; over: string } {
  const step = niceStep(f.tMaxS, 10);
  let over = `<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${bottom}" y2="${bottom}" stroke="#111"/>`;
  for (let s = 0; s <= f.tMaxS + 1e-9; s += step) {
    const x = num(f.x(s * 1000));
    over += `<line x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + 4}" stroke="#111"/><text x="${x}" y="${bottom + 16}" text-anchor="middle">${esc(fmt(s))}</text>`;
  }
  over += `<text x="${LEFT + PLOT_W}" y="${bottom + 30}" text-anchor="end">seconds from the drill's start</text>`;
  let under = '';
  if (tl.faultStartMs !== undefined) {
    const x0 = f.x(tl.faultStartMs);
    const x1 = Math.max(x0 + 2, f.x(tl.faultEndMs ?? f.tMaxS * 1000));
    under = `<rect class="fault" x="${num(x0)}" y="${top}" width="${num(x1 - x0)}" height="${bottom - top}" ${outline ? 'fill="none" stroke="#b91c1c" stroke-dasharray="4 3"' : 'fill="#fee2e2"'}/>`
      + `<text x="${num(x0 + 3)}" y="${outline ? bottom - 4 : top + 12}" fill="#b91c1c">fault</text>`;
  }
  return { under, over };
}

function legend(items: Array<{ label: string; color: string }>, y: number): string {
  let x = LEFT;
  return items.map((it) => {
    const s = `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${it.color}"/><text x="${x + 14}" y="${y}">${esc(it.label)}</text>`;
    x += 24 + it.label.length * 6.6;
    return s;
  }).join('');
}

/** Lines of per-second rates against time. */
export function lineChart(id: string, title: string, unit: string, tl: RecordedTimeline, series: Series[]): string {
  const H = 230;
  const bottom = H - 40;
  const f = frame(tl);
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const yStep = niceStep(max > 0 ? max : 1, 4);
  const yMax = Math.max(yStep, Math.ceil(max / yStep) * yStep);
  const y = (v: number): number => bottom - (v / yMax) * (bottom - TOP);
  const axis = timeAxis(f, tl, TOP, bottom);
  let grid = '';
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    grid += `<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${num(y(v))}" y2="${num(y(v))}" stroke="#e5e7eb"/>`
      + `<text x="${LEFT - 6}" y="${num(y(v) + 4)}" text-anchor="end">${esc(fmt(v))}</text>`;
  }
  const lines = series.map((s) => {
    const pts = s.values.map((v, i) => `${num(f.x(tl.samples[i]!.t))},${num(y(v))}`).join(' ');
    return `<polyline class="series" data-series="${esc(s.label)}" fill="none" stroke="${s.color}" stroke-width="1.6" points="${pts}"/>`;
  });
  const peak = (s: Series): string => `${s.label} (peak ${fmt(Math.max(0, ...s.values))})`;
  return `<figure data-chart="${esc(id)}"><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`
    + `<text x="0" y="16" class="t">${esc(title)} (${esc(unit)})</text>${legend(series.map((s) => ({ label: peak(s), color: s.color })), 32)}`
    + `${axis.under}${grid}${lines.join('')}${axis.over}</svg></figure>`;
}

export const STATE_COLORS: Record<string, string> = {
  ready: '#10b981', degraded: '#f59e0b', draining: '#6366f1', booting: '#9ca3af', stopped: '#6b7280', down: '#dc2626',
};
const LANES = ['ready', 'degraded', 'draining', 'booting', 'stopped', 'down'];

/**
 * The readiness band: each run of equal states a coloured stretch (from its first sample to the
 * next run's), and a dot per sample in its state's lane (dots, not a line: a line between two
 * samples would draw states that were never seen).
 */
export function readinessChart(tl: RecordedTimeline): string {
  const seen = new Set(tl.samples.map((s) => s.readiness));
  const lanes = [...LANES.filter((l) => l === 'ready' || l === 'degraded' || l === 'draining' || seen.has(l)), ...[...seen].filter((s) => !LANES.includes(s))];
  const laneH = 18;
  const bottom = TOP + lanes.length * laneH;
  const H = bottom + 40;
  const f = frame(tl);
  const laneY = (state: string): number => TOP + (lanes.indexOf(state) + 0.5) * laneH;
  const axis = timeAxis(f, tl, TOP, bottom, true);
  const labels = lanes.map((l) => `<text x="${LEFT - 6}" y="${num(laneY(l) + 4)}" text-anchor="end">${esc(l)}</text>`).join('');
  const bands: string[] = [];
  const s = tl.samples;
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1]!.readiness === s[i]!.readiness) j++;
    const end = s[j + 1]?.t ?? s[j]!.t;
    const x0 = f.x(s[i]!.t);
    const w = Math.max(2, f.x(end) - x0);
    const state = s[i]!.readiness;
    bands.push(`<rect class="band" data-state="${esc(state)}" data-from-ms="${s[i]!.t}" data-to-ms="${end}" x="${num(x0)}" y="${TOP}" width="${num(w)}" height="${bottom - TOP}" fill="${STATE_COLORS[state] ?? '#d1d5db'}" fill-opacity="0.35"/>`);
    i = j + 1;
  }
  const pts = s.map((x) => `${num(f.x(x.t))},${num(laneY(x.readiness))}`).join(' ');
  const dot = '<marker id="dot" viewBox="0 0 4 4" refX="2" refY="2" markerWidth="4" markerHeight="4" markerUnits="userSpaceOnUse"><circle cx="2" cy="2" r="2" fill="#111"/></marker>';
  const trace = `<defs>${dot}</defs><polyline class="series" data-series="readiness" fill="none" stroke="none" marker-start="url(#dot)" marker-mid="url(#dot)" marker-end="url(#dot)" points="${pts}"/>`;
  const title = 'Readiness (/readyz state)';
  return `<figure data-chart="readiness"><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`
    + `<text x="0" y="16" class="t">${esc(title)}</text>${legend(lanes.map((l) => ({ label: l, color: STATE_COLORS[l] ?? '#d1d5db' })), 32)}`
    + `${bands.join('')}${axis.under}${labels}${trace}${axis.over}</svg></figure>`;
}
