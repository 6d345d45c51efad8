/**
 * Redis Streams (bench-redis.mjs with REDIS_DEL=1, i.e. delete on ack as a mailbox does):
 * XADD pipelined with a window of replies, XREADGROUP COUNT 100 BLOCK 1000, one XACK and one
 * XDEL per read batch pipelined ahead of the next read; the end barrier is the last reply.
 *
 * Two servers: the machine's redis on 127.0.0.1:6379 (no persistence, checked, not changed),
 * and for the durable class our own `redis-server --appendonly yes --appendfsync always` on
 * a free loopback port in a temp dir, stopped by its PID and removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from '../lib.ts';
import { freePort } from '../server.ts';
import { pidListening, runPeerLoad, uniqueName, type PeerGroup, type PeerSession } from './common.ts';

const COUNT = 100;

interface RedisEnv {
  port: number;
  serverPid: number | undefined;
  info: Record<string, unknown>;
  child?: ChildProcess;
  dir?: string;
}

async function session(workload: string, env: RedisEnv): Promise<PeerSession> {
  const key = uniqueName(`bench:${workload}`);
  const prod = new Redis({ host: '127.0.0.1', port: env.port, enableAutoPipelining: true, lazyConnect: true });
  const cons = new Redis({ host: '127.0.0.1', port: env.port, lazyConnect: true });
  await prod.connect();
  await cons.connect();
  await prod.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
  let running = true;
  let lastAck: Promise<unknown> = Promise.resolve();
  let loop: Promise<void> = Promise.resolve();
  return {
    info: { ...env.info, count: COUNT, xdel: true },
    publish: (_seq, payload) => prod.xaddBuffer(key, '*', 'd', payload),
    consume: async (record) => {
      loop = (async () => {
        while (running) {
          const res = (await cons.xreadgroupBuffer('GROUP', 'g', 'c1', 'COUNT', COUNT, 'BLOCK', 200, 'STREAMS', key, '>')) as
            Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
          if (!res) continue;
          const entries = res[0]![1];
          const ids = new Array<Buffer>(entries.length);
          for (let i = 0; i < entries.length; i++) {
            const [id, fields] = entries[i]!;
            record(fields[1]!);
            ids[i] = id;
          }
          void cons.xack(key, 'g', ...ids);
          lastAck = cons.xdel(key, ...ids);
        }
      })();
    },
    barrier: async () => {
      running = false;
      await lastAck;
    },
    verify: async () => {
      await loop;
      const pend = (await prod.xpending(key, 'g')) as [number | string, ...unknown[]];
      return { pending: Number(pend[0]), xlen: await prod.xlen(key) };
    },
    close: async () => {
      running = false;
      await prod.del(key).catch(() => 0);
      prod.disconnect();
      cons.disconnect();
    },
  };
}

async function describe(port: number): Promise<Record<string, unknown>> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on('error', () => {}); // a refused connect while the server boots is expected; connect() rejects with it
  await r.connect();
  try {
    const version = /redis_version:(\S+)/.exec(await r.info('server'))?.[1];
    const aof = /aof_enabled:1/.test(await r.info('persistence'));
    const fsync = ((await r.config('GET', 'appendfsync')) as string[])[1];
    const save = ((await r.config('GET', 'save')) as string[])[1];
    return { version, aof, appendfsync: aof ? fsync : 'n/a', save };
  } finally {
    r.disconnect();
  }
}

const variant = (name: string): PeerGroup<RedisEnv>['variants'][number] => ({
  system: 'redis-streams',
  variant: name,
  run: async (env, workload, run, opts, progress) =>
    runPeerLoad({ system: 'redis-streams', variant: name, serverPid: env.serverPid }, await session(workload, env), workload, run, opts, progress),
});

export function redisGroup(): PeerGroup<RedisEnv> {
  return {
    name: 'redis (machine redis :6379, no persistence)',
    setup: async () => {
      const info = await describe(6379);
      if (info.aof || (info.save !== '' && info.save !== undefined)) {
        process.stderr.write(`[bench] note: redis :6379 persistence is aof=${String(info.aof)} save=${JSON.stringify(info.save)}; the row is labelled as measured\n`);
      }
      return { port: 6379, serverPid: pidListening(6379), info };
    },
    teardown: async () => {},
    variants: [variant('no-persistence+xdel')],
  };
}

export function redisAlwaysGroup(): PeerGroup<RedisEnv> {
  return {
    name: 'redis-always (own redis-server, appendfsync always)',
    setup: async () => {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'mailbox-bench-redis-'));
      const child = spawn('redis-server', [
        '--bind', '127.0.0.1', '--port', String(port), '--protected-mode', 'yes', '--dir', dir,
        '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
      ], { stdio: 'ignore' });
      const failed = new Promise<never>((_, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
      });
      failed.catch(() => {});
      for (let i = 0; ; i++) {
        const up = await Promise.race([describe(port).then((info) => info, () => undefined), failed]).catch((e: Error) => {
          rmSync(dir, { recursive: true, force: true });
          throw e;
        });
        if (up) return { port, serverPid: child.pid, info: up, child, dir };
        if (i > 50) {
          child.kill('SIGTERM');
          rmSync(dir, { recursive: true, force: true });
          throw new Error('own redis-server did not come up within 5 s');
        }
        await sleep(100);
      }
    },
    teardown: async (env) => {
      const child = env.child;
      if (child && child.exitCode === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([gone, sleep(10_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (env.dir) rmSync(env.dir, { recursive: true, force: true });
    },
    variants: [variant('aof-always+xdel')],
  };
}
