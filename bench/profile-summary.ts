/**
 * Top functions by self time in a V8 .cpuprofile (as written by `node --cpu-prof`, e.g. via
 * `mailbox bench --server-cpu-prof DIR`):
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top 30] [--filter src/]
 * Self time = samples whose top frame is the function. Also prints time per file, so the
 * owner of a hot file sees it at once, and the share spent in GC / idle / native code.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

const sources = new Map<string, string[] | undefined>();

/**
 * tsx hands V8 transformed code, so a TypeScript frame often reports line 1. Then the line
 * is looked up in the source: the first line that defines `name` (method, function, const).
 * Such lines are marked `~`.
 */
function sourceLine(file: string, name: string): number | undefined {
  if (!sources.has(file)) {
    try {
      sources.set(file, readFileSync(file, 'utf8').split('\n'));
    } catch {
      sources.set(file, undefined);
    }
  }
  const lines = sources.get(file);
  const bare = name.replace(/^.*\./, '').replace(/[^\w$]/g, '');
  if (!lines || !bare) return undefined;
  const def = new RegExp(`^\\s*(?:export\\s+)?(?:(?:private|public|protected|static|readonly|async|get|set)\\s+)*(?:function\\s*\\*?\\s*|const\\s+|let\\s+|class\\s+)?${bare}\\s*(?:<[^>]*>)?\\s*[(=:]`);
  const i = lines.findIndex((l) => def.test(l));
  return i >= 0 ? i + 1 : undefined;
}

function where(cf: CallFrame, root: string): string {
  if (!cf.url) return '(native)';
  const abs = cf.url.startsWith('file://') ? new URL(cf.url).pathname : cf.url;
  const path = cf.url.startsWith('file://') ? relative(root, abs) : cf.url;
  if (cf.lineNumber <= 0 && /\.ts$/.test(abs)) {
    const line = sourceLine(abs, cf.functionName);
    if (line !== undefined) return `${path}:~${line}`;
  }
  return `${path}:${cf.lineNumber + 1}`;
}

export function summarize(profile: CpuProfile, root = process.cwd()): { totalMs: number; idleMs: number; functions: HotSpot[]; files: HotSpot[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  // Shares are of busy time: (idle) is the event loop waiting, not work.
  let idleUs = 0;
  for (const [id, us] of selfUs) if (byId.get(id)!.callFrame.functionName === '(idle)') idleUs += us;
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0) - idleUs || 1;
  const fn = new Map<string, HotSpot>();
  const files = new Map<string, HotSpot>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    const name = cf.functionName || (cf.url ? '(anonymous)' : '(program)');
    const at = where(cf, root);
    const key = `${name}@${at}`;
    const f = fn.get(key) ?? { name, where: at, selfMs: 0, share: 0 };
    f.selfMs += us / 1000;
    fn.set(key, f);
    const file = at.replace(/:~?\d+$/, '');
    const g = files.get(file) ?? { name: file, where: file, selfMs: 0, share: 0 };
    g.selfMs += us / 1000;
    files.set(file, g);
  }
  const finish = (m: Map<string, HotSpot>): HotSpot[] =>
    [...m.values()].map((h) => ({ ...h, share: (h.selfMs * 1000) / totalUs })).sort((a, b) => b.selfMs - a.selfMs);
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, functions: finish(fn), files: finish(files) };
}

function main(argv: string[]): void {
  const file = argv.find((a) => !a.startsWith('--'));
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top 30] [--filter TEXT]\n');
    process.exit(2);
  }
  const topAt = argv.indexOf('--top');
  const top = topAt >= 0 ? Number(argv[topAt + 1]) : 30;
  const filterAt = argv.indexOf('--filter');
  const filter = filterAt >= 0 ? argv[filterAt + 1] : undefined;
  const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const out = [`${file}: ${(s.totalMs / 1000).toFixed(2)} s busy, ${(s.idleMs / 1000).toFixed(2)} s idle (shares are of busy time; ~N = line found by name in the source)`, '', '| self ms | share | function | where |', '|---:|---:|---|---|'];
  for (const h of s.functions.filter((h) => h.name !== '(idle)' && (!filter || h.where.includes(filter))).slice(0, top)) {
    out.push(`| ${h.selfMs.toFixed(0)} | ${pct(h.share)} | ${h.name} | ${h.where} |`);
  }
  out.push('', '| self ms | share | file |', '|---:|---:|---|');
  for (const h of s.files.filter((h) => !filter || h.where.includes(filter)).slice(0, Math.min(top, 20))) {
    out.push(`| ${h.selfMs.toFixed(0)} | ${pct(h.share)} | ${h.where} |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) main(process.argv.slice(2));
