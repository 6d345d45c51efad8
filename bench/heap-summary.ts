/**
 * Bytes allocated in a V8 sampling heap profile (as `mailbox bench --server-heap-prof DIR`
 * writes it, freed objects included), and the top allocation sites by self size:
 *   node --import tsx bench/heap-summary.ts FILE.heapprofile [--top 25] [--per N]
 * `--per N` divides by N (messages) too. Per message over a run = the difference of two
 * profiles whose runs differ only in the message count, divided by that difference: start-up
 * and compilation cancel out.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

export interface AllocationSite {
  name: string;
  where: string;
  bytes: number;
}

/** Every function's self bytes, summed over the call paths it appears on, largest first; and the total. */
export function allocationSites(head: HeapNode): { total: number; sites: AllocationSite[] } {
  const bySite = new Map<string, AllocationSite>();
  let total = 0;
  const stack: HeapNode[] = [head];
  while (stack.length > 0) {
    const node = stack.pop()!;
    total += node.selfSize;
    if (node.selfSize > 0) {
      const f = node.callFrame;
      const where = f.url ? `${relative(process.cwd(), f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : '(native)';
      const key = `${f.functionName}@${where}`;
      const site = bySite.get(key) ?? { name: f.functionName || '(anonymous)', where, bytes: 0 };
      site.bytes += node.selfSize;
      bySite.set(key, site);
    }
    stack.push(...node.children);
  }
  return { total, sites: [...bySite.values()].sort((a, b) => b.bytes - a.bytes) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.on('error', () => process.exit(0)); // piped into head: stop quietly
  const { values, positionals } = parseArgs({ allowPositionals: true, strict: true, options: { top: { type: 'string' }, per: { type: 'string' } } });
  const top = Number(values.top ?? 25);
  const per = values.per === undefined ? undefined : Number(values.per);
  if (positionals.length === 0 || !Number.isInteger(top) || (per !== undefined && !(per > 0))) {
    process.stderr.write('usage: node --import tsx bench/heap-summary.ts FILE.heapprofile [--top 25] [--per N]\n');
    process.exit(2);
  }
  for (const file of positionals) {
    const { total, sites } = allocationSites((JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode }).head);
    const mb = (b: number): string => (b / 1e6).toFixed(1);
    process.stdout.write(`${file}: ${mb(total)} MB allocated${per ? `, ${Math.round(total / per)} B per message over ${per}` : ''}\n\n| MB | share | function | where |\n|---:|---:|---|---|\n`);
    for (const s of sites.slice(0, top)) process.stdout.write(`| ${mb(s.bytes)} | ${((100 * s.bytes) / total).toFixed(1)}% | ${s.name} | ${s.where} |\n`);
    process.stdout.write('\n');
  }
}
