/**
 * Figures for the durable profile (not a test): `node --import tsx test/durability/figures.ts [N]`
 *
 * 1. RSS of a server process (LevelDB store) holding N queued 1 KiB messages, sampled from
 *    /proc/<pid>/status VmRSS after a full GC at 0, N/4, N/2, 3N/4 and N messages; the slope
 *    is the RAM one queued message costs, extrapolated to 5,000,000.
 * 2. Time from process start to /readyz 200 with those N messages on disk (after kill -9),
 *    and with an empty store, for comparison.
 *
 * N defaults to 1,000,000 (env FIGURES_N or the first argument). Durability is `relaxed` to
 * fill faster; it changes neither the RAM per message nor the rebuild.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxClient } from '../../src/client/index.ts';
import { ChildServer, ROOT, TSX, testToken } from './child.ts';

const N = Number(process.argv[2] ?? process.env.FIGURES_N ?? 1_000_000);
const TOPICS = 64;
const BATCH = 500;
const PRODUCERS = 4;
const PAYLOAD = new Uint8Array(1024).fill(0x5a);
const MiB = 1024 * 1024;

function vmRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

async function sample(server: ChildServer): Promise<{ rss: number; heapUsed: number }> {
  const reply = await server.ask<{ rss: number; heapUsed: number }>('gc');
  return { rss: vmRss(server.pid!), heapUsed: reply.heapUsed };
}

const dataDir = mkdtempSync(join(tmpdir(), 'mailbox-figures-'));
const options = {
  args: ['--data-dir', dataDir, '--durability', 'relaxed'],
  nodeArgs: ['--expose-gc', '--import', TSX],
  script: join(ROOT, 'test', 'durability', 'figures-server.ts'),
  env: { MAILBOX_QUEUE__SHARD_CAPACITY: '100000000', MAILBOX_QUEUE__DEDUP_CAPACITY: '100000000' },
  readyTimeoutMs: 30 * 60_000,
};
const server = await ChildServer.start(options);
try {
  const emptyReadyMs = await (async () => {
    await server.kill9();
    return server.launch();
  })();
  const clients = await Promise.all(Array.from({ length: PRODUCERS }, () => MailboxClient.connect(server.url, { token: testToken() })));
  const points: Array<{ n: number; rss: number; heapUsed: number }> = [{ n: 0, ...(await sample(server)) }];
  console.log(`N=${N}: empty server RSS ${(points[0]!.rss / MiB).toFixed(1)} MiB, start to ready ${Math.round(emptyReadyMs)} ms`);
  let next = 0;
  const t0 = performance.now();
  for (const mark of [N / 4, N / 2, (3 * N) / 4, N].map(Math.floor)) {
    await Promise.all(
      clients.map(async (client) => {
        for (;;) {
          const start = next;
          if (start >= mark) return;
          next = Math.min(mark, start + BATCH);
          const inputs = [];
          for (let i = start; i < next; i++) inputs.push({ topic: `fig:${i % TOPICS}`, idemKey: `f-${i}`, payload: PAYLOAD });
          const results = await client.sendBatch(inputs);
          const failed = results.find((r) => r instanceof Error);
          if (failed) throw failed;
        }
      }),
    );
    const p = { n: mark, ...(await sample(server)) };
    points.push(p);
    const rate = mark / ((performance.now() - t0) / 1000);
    console.log(`  ${mark.toLocaleString('en')} queued: RSS ${(p.rss / MiB).toFixed(1)} MiB, heap ${(p.heapUsed / MiB).toFixed(1)} MiB (${Math.round(rate)} msg/s so far)`);
  }
  await Promise.all(clients.map((c) => c.close()));

  // Least-squares slope of RSS over messages.
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const mx = mean(points.map((p) => p.n));
  const my = mean(points.map((p) => p.rss));
  const slope = points.reduce((a, p) => a + (p.n - mx) * (p.rss - my), 0) / points.reduce((a, p) => a + (p.n - mx) ** 2, 0);
  const heapSlope = (points.at(-1)!.heapUsed - points[0]!.heapUsed) / N;
  const base = points[0]!.rss;
  console.log(`RSS per queued message: ${Math.round(slope)} B (JS heap ${Math.round(heapSlope)} B)`);
  console.log(`extrapolated RSS at 1,000,000: ${((base + slope * 1_000_000) / MiB).toFixed(0)} MiB; at 5,000,000: ${((base + slope * 5_000_000) / MiB).toFixed(0)} MiB (target ≤ 300 MiB)`);

  await server.kill9();
  const readyMs = await server.launch();
  const after = await sample(server);
  console.log(`kill -9 with ${N.toLocaleString('en')} messages on disk: start to /readyz 200 in ${(readyMs / 1000).toFixed(1)} s; RSS after rebuild ${(after.rss / MiB).toFixed(1)} MiB`);
  const depths = await server.depths();
  console.log(`after restart: ${JSON.stringify(depths)}`);
} finally {
  await server.kill9();
  rmSync(dataDir, { recursive: true, force: true });
}
