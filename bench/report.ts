/**
 * The HTML report of a results JSON: bench/report/index.html (generated, gitignored), one
 * self-contained page — inline SVG bar charts, inline CSS, no external assets.
 *   mailbox bench --report bench/results/<stamp>.json
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spread, type Spread } from './lib.ts';
import { durableFiguresTable, fairTable, fanoutTable, floorTable, gcTable, groups, p99, ratioRows, systemTable, throughput, type Group } from './summary.ts';
import type { BenchReport } from './types.ts';

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'report', 'index.html');
const MAILBOX = '#2563eb';
const PEER = '#9ca3af';
/** The floor (bench/floor): a yardstick, not a peer. */
const FLOOR = '#d1d5db';
const LAT_COLORS = { p50: '#60a5fa', p95: '#2563eb', p99: '#1e3a8a' } as const;

/** The page style of the reports (this one and chaos/report.ts's): one self-contained page, no external assets. */
export const BASE_CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f3f4f6}td.bad{color:#b91c1c;font-weight:600}td.good{color:#047857;font-weight:600}
svg text{font:12px system-ui,sans-serif;fill:#111}svg text.t{font-weight:600;font-size:13px}
figure{margin:12px 0 24px}code{background:#f3f4f6;padding:1px 4px}`;

/** Escapes text for HTML and SVG (also used by chaos/report.ts). */
export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const label = (g: Group): string => `${g.system} · ${g.variant}`;

interface Bar {
  label: string;
  value: Spread;
  color: string;
}

/** Horizontal bars with a min–max whisker and the median written at the end. */
function barChart(title: string, unit: string, bars: Bar[], fmt: (x: number) => string): string {
  if (!bars.length) return '';
  const rowH = 26;
  const left = 230;
  const width = 760;
  const plot = width - left - 110;
  const top = 28;
  const height = top + bars.length * rowH + 10;
  const max = Math.max(...bars.map((b) => b.value.max)) || 1;
  const x = (v: number): number => left + (v / max) * plot;
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const mid = y + rowH / 2 - 2;
    return `<text x="${left - 8}" y="${mid + 4}" text-anchor="end">${esc(b.label)}</text>`
      + `<rect x="${left}" y="${y + 3}" width="${Math.max(1, x(b.value.median) - left)}" height="${rowH - 10}" fill="${b.color}"/>`
      + (b.value.n > 1 ? `<line x1="${x(b.value.min)}" x2="${x(b.value.max)}" y1="${mid}" y2="${mid}" stroke="#111" stroke-width="1.5"/>` : '')
      + `<text x="${x(b.value.max) + 6}" y="${mid + 4}">${esc(fmt(b.value.median))}</text>`;
  });
  return `<figure><svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(title)}">`
    + `<text x="0" y="16" class="t">${esc(title)} (${esc(unit)}; bar = median, line = min–max)</text>${rows.join('')}</svg></figure>`;
}

/** Grouped bars: p50 / p95 / p99 per system, medians over runs. */
function latencyChart(gs: Group[]): string {
  const withB = gs.filter((g) => g.B.some((r) => r.latencyMs));
  if (!withB.length) return '';
  const keys = ['p50', 'p95', 'p99'] as const;
  const rowH = 16;
  const groupH = rowH * keys.length + 12;
  const left = 230;
  const width = 760;
  const plot = width - left - 110;
  const top = 44;
  const height = top + withB.length * groupH;
  const med = (g: Group, k: (typeof keys)[number]): number => spread(g.B.filter((r) => !r.error).map((r) => r.latencyMs?.[k]))?.median ?? 0;
  const max = Math.max(...withB.flatMap((g) => keys.map((k) => med(g, k)))) || 1;
  const legend = keys.map((k, i) => `<rect x="${left + i * 70}" y="24" width="10" height="10" fill="${LAT_COLORS[k]}"/><text x="${left + i * 70 + 14}" y="33">${k}</text>`).join('');
  const rows = withB.map((g, gi) => {
    const y0 = top + gi * groupH;
    const bars = keys.map((k, ki) => {
      const v = med(g, k);
      const y = y0 + ki * rowH;
      return `<rect x="${left}" y="${y}" width="${Math.max(1, (v / max) * plot)}" height="${rowH - 3}" fill="${LAT_COLORS[k]}"/>`
        + `<text x="${left + (v / max) * plot + 6}" y="${y + rowH - 5}">${v.toFixed(2)} ms</text>`;
    }).join('');
    return `<text x="${left - 8}" y="${y0 + groupH / 2}" text-anchor="end"${g.system === 'svc-mailbox' ? ' class="mb"' : ''}>${esc(label(g))}</text>${bars}`;
  });
  return `<figure><svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="latency">`
    + `<text x="0" y="16" class="t">Workload B latency, 2,000 msg/s (ms, median of runs)</text>${legend}${rows.join('')}</svg></figure>`;
}

/** A markdown table (as printed on stdout) as HTML. */
function mdTable(lines: string[]): string {
  if (lines.length < 2) return '';
  const cells = (l: string): string[] => l.split('|').slice(1, -1).map((c) => c.trim());
  const head = cells(lines[0]!).map((c) => `<th>${esc(c)}</th>`).join('');
  const body = lines.slice(2).map((l) => `<tr>${cells(l).map((c) => `<td${/NOT met/.test(c) ? ' class="bad"' : c === 'met' ? ' class="good"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export function renderReport(report: BenchReport): string {
  const gs = groups(report.results);
  const color = (g: Group): string => (g.system === 'svc-mailbox' ? MAILBOX : g.system === 'floor' ? FLOOR : PEER);
  const tBars = gs.flatMap((g) => {
    const s = throughput(g);
    return s ? [{ label: label(g), value: s, color: color(g) }] : [];
  });
  const p99Bars = gs.flatMap((g) => {
    const s = p99(g);
    return s ? [{ label: label(g), value: s, color: color(g) }] : [];
  });
  const fanBars = gs.flatMap((g) => {
    const s = spread(g.fanout.filter((r) => !r.error).map((r) => r.fanoutMs?.p95));
    return s ? [{ label: label(g), value: s, color: color(g) }] : [];
  });
  const rows = ratioRows(report);
  const ratioLines = ['| row | svc-mailbox | best peer | ratio | target | met |', '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.row} | ${r.mailbox} | ${r.bestPeer} | ${r.ratio} | ${r.target} | ${r.met === undefined ? 'not measured' : r.met ? 'met' : 'NOT met'} |`)];
  const gcLines = gcTable(report);
  const o = report.options;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>svc-mailbox bench ${esc(report.at)}</title>
<style>
${BASE_CSS}
svg text.mb{fill:${MAILBOX};font-weight:600}
</style></head><body>
<h1>svc-mailbox benchmark</h1>
<p>${esc(report.at)} · Node ${esc(report.node)} · ${report.host.cpus} × ${esc(report.host.model)} · Linux ${esc(report.host.kernel)}.
Client and server share the same cores; every number is the median of ${o.runs} run(s), min–max where shown.
A: ${o.count.toLocaleString('en-US')} × ${o.payload} B, window ${o.window}, prefetch ${o.prefetch}, ${o.producers} producer(s), ${o.consumers} consumer(s), ${o.topics} topic(s).
B: ${o.rate} msg/s for ${o.seconds} s. Fan-out: ${o.fanoutTopics.toLocaleString('en-US')} topics × ${o.fanoutReps} rounds, ${o.fanoutPayload} B.</p>
<h2>Targets</h2>${mdTable(ratioLines)}
<h2>Throughput (workload A)</h2>${barChart('End-to-end throughput', 'msgs/s', tBars, (x) => Math.round(x).toLocaleString('en-US'))}
<h2>Latency (workload B)</h2>${latencyChart(gs)}${barChart('p99 latency', 'ms', p99Bars, (x) => `${x.toFixed(2)} ms`)}
${fanBars.length ? `<h2>Fan-out</h2>${barChart('Fan-out round, p95', 'ms', fanBars, (x) => `${x.toFixed(1)} ms`)}${mdTable(fanoutTable(report))}` : ''}
${fairTable(report).length ? `<h2>Fairness</h2><p>Workload B of a calm tenant, without and with a hot tenant trying ${o.fairFactor ?? 10}× its SEND quota on the same server (bench/fair.ts).</p>${mdTable(fairTable(report))}` : ''}
${floorTable(report).length ? `<h2>Against the floor</h2><p>The least possible Node.js broker (<code>bench/floor</code>) in the same run: what svc-mailbox's design costs per message.</p>${mdTable(floorTable(report))}` : ''}
<h2>All systems</h2>${mdTable(systemTable(report))}
${gcLines.length ? `<h2>Garbage collection</h2><p>GC pauses of the svc-mailbox server and of the bench client during each run's timed part (median of runs): a pause holds every message that arrives during it.</p>${mdTable(gcLines)}` : ''}
${report.durableFigures ? `<h2>Durable store figures</h2>${mdTable(durableFiguresTable(report))}` : ''}
<p>Generated by <code>bench/report.ts</code> from the results JSON; see <code>bench/README.md</code> for how to read it.</p>
</body></html>
`;
}

export function writeReport(report: BenchReport, out = OUT): string {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, renderReport(report));
  return out;
}

export async function writeReportFrom(file: string): Promise<string> {
  return writeReport(JSON.parse(readFileSync(file, 'utf8')) as BenchReport);
}
