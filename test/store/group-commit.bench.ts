/**
 * How well the LevelDB store's group commit coalesces (a measurement, not a test):
 *   node --import tsx test/store/group-commit.bench.ts [N=20000] [WINDOW=1000]
 * Burst: N single-op commits issued at once. Windowed: at most WINDOW unresolved
 * commits, each resolved commit replaced by a new one (a producer with a send window),
 * half of them acks (delMsg) of earlier messages, as a shard's put/ack mix.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LevelStore } from '../../src/store/level.ts';
import { meta, msgId, payload, S0, tempDir, delMsg } from './fixtures.ts';
import type { Durability } from '../../src/config/config.ts';
import type { MsgId } from '../../src/domain/types.ts';

const N = Number(process.argv[2] ?? 20_000);
const WINDOW = Number(process.argv[3] ?? 1000);
const body = payload(1024);

async function run(durability: Durability): Promise<void> {
  const tmp = tempDir('gc-bench');
  const store = new LevelStore({ dir: join(tmp.dir, 'db'), durability });
  await store.open();
  try {
    let t = performance.now();
    await Promise.all(Array.from({ length: N }, () => store.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: body }])));
    let ms = performance.now() - t;
    let s = store.stats();
    console.log(`${durability} burst:    ${N} commits in ${s.batches} batches (avg ${(s.commits / s.batches).toFixed(1)}, max ${s.maxBatchCommits} commits/batch), ${Math.round(N / (ms / 1000))} commits/s`);

    const base = store.stats();
    const live: MsgId[] = [];
    let issued = 0;
    t = performance.now();
    await new Promise<void>((resolve, reject) => {
      let inflight = 0;
      const pump = (): void => {
        while (inflight < WINDOW && issued < N) {
          issued++;
          inflight++;
          const ack = issued % 2 === 0 && live.length > 0;
          const id = ack ? live.shift()! : msgId();
          const p = ack
            ? store.commit([delMsg(meta(id))])
            : store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: body }]).then(() => void live.push(id));
          p.then(() => {
            inflight--;
            if (issued >= N && inflight === 0) resolve();
            else pump();
          }, reject);
        }
      };
      pump();
    });
    ms = performance.now() - t;
    s = store.stats();
    const batches = s.batches - base.batches;
    console.log(`${durability} windowed: ${N} commits (window ${WINDOW}) in ${batches} batches (avg ${(N / batches).toFixed(1)} commits/batch), ${Math.round(N / (ms / 1000))} commits/s`);
  } finally {
    await store.close();
    tmp.remove();
  }
}

await run('sync');
await run('relaxed');
