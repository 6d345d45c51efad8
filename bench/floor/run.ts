/**
 * The floor: how fast the least possible Node.js broker moves workload A on this machine (see
 * server.ts for what it leaves out). The client is as lean: sends coalesced per tick, at most
 * `--window` unconfirmed, one consumer acking each delivered batch in one frame.
 * svc-mailbox's own figures (`npm run bench`) read against these: the gap is what its
 * features and layers cost per message, and the headroom a leaner design could win back.
 *
 *   node --import tsx bench/floor/run.ts [--runs 3] [--count 200000] [--payload 1024] [--window 1000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { intValue, parseCommand, usageError, type CommandSpec, type Values } from '../../src/cli/args.ts';
import { cpuEnd, cpuStart, makePayload, readSeq, Tracker } from '../lib.ts';
import { freePort } from '../server.ts';
import { cpuPerMessage, fmtSpread, groups, throughput } from '../summary.ts';
import type { RunResult, StoreVariant } from '../types.ts';
import type { FloorMessage } from './wire.ts';

const packr = new Packr({ useRecords: false });
const SERVER = join(dirname(fileURLToPath(import.meta.url)), 'server.ts');

/** The store variants the floor has: a Map, or a Map plus LevelDB synced per batch. */
export type FloorVariant = Extract<StoreVariant, 'amnesia' | 'level+sync'>;

export const FLOOR_VARIANTS: readonly FloorVariant[] = ['amnesia', 'level+sync'];

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 1 << 20 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** One run of workload A against a fresh floor server, as a bench result of system `floor`. */
export async function floorRun(store: FloorVariant, run: number, count: number, size: number, window: number): Promise<RunResult> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mailbox-floor-'));
  const args = ['--import', 'tsx', SERVER, String(port), store === 'amnesia' ? 'amnesia' : 'level', join(dir, 'db')];
  const server = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
      server.once('exit', (code) => reject(new Error(`floor server exited (${code})`)));
    });
    const url = `ws://127.0.0.1:${port}`;
    const [producer, consumer] = await Promise.all([open(url), open(url)]);
    const tracker = new Tracker(count);
    let answerLeft: (n: number) => void = () => {};
    consumer.on('message', (data: Buffer) => {
      const msg = packr.unpack(data) as FloorMessage;
      if (msg.t === 'left') answerLeft(msg.messages);
      if (msg.t !== 'deliver') return;
      for (const d of msg.items) if (d.payload) tracker.record(readSeq(d.payload));
      consumer.send(packr.pack({ t: 'ack', ids: msg.items.map((d) => d.id) } satisfies FloorMessage));
    });
    consumer.send(packr.pack({ t: 'subscribe' } satisfies FloorMessage));

    let sent = 0;
    let confirmed = 0;
    let scheduled = false;
    const fill = (): void => {
      scheduled = false;
      const items: Array<{ key: string; topic: string; payload: Uint8Array }> = [];
      while (sent < count && sent - confirmed < window) items.push({ key: `k${sent}`, topic: 'bench', payload: makePayload(sent++, size) });
      for (let i = 0; i < items.length; i += 256) producer.send(packr.pack({ t: 'send', items: items.slice(i, i + 256) } satisfies FloorMessage));
    };
    producer.on('message', (data: Buffer) => {
      const msg = packr.unpack(data) as FloorMessage;
      if (msg.t !== 'sent') return;
      confirmed += msg.ids.length;
      if (!scheduled) {
        scheduled = true;
        setImmediate(fill);
      }
    });
    const c0 = cpuStart(server.pid);
    const t0 = performance.now();
    fill();
    await tracker.done;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuEnd(c0);
    // Asked after the last ACK on the same connection, so the answer counts every ACK.
    const left = await new Promise<number>((resolve) => {
      answerLeft = resolve;
      consumer.send(packr.pack({ t: 'stats' } satisfies FloorMessage));
    });
    producer.close();
    consumer.close();
    return {
      system: 'floor', variant: store, workload: 'A', run, n: count, size, window,
      seconds: Math.round(seconds * 1000) / 1000, cpu, msgsPerSec: Math.round(count / seconds),
      delivered: tracker.total, unique: tracker.unique, duplicates: tracker.dups, missing: count - tracker.unique,
      serverAfter: { messages: left },
    };
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const FLOOR_OPTIONS = { runs: { type: 'string' }, count: { type: 'string' }, payload: { type: 'string' }, window: { type: 'string' } } as const;
const FLOOR: CommandSpec<typeof FLOOR_OPTIONS> = {
  command: 'bench/floor/run.ts',
  usage: 'usage: node --import tsx bench/floor/run.ts [--runs 3] [--count 200000] [--payload 1024] [--window 1000]',
  options: FLOOR_OPTIONS,
};

/** A positive integer option, or its default. */
function positive(args: Values<typeof FLOOR_OPTIONS>, name: keyof typeof FLOOR_OPTIONS, fallback: number): number {
  const n = intValue(FLOOR, name, args[name]) ?? fallback;
  if (n < 1) throw usageError(FLOOR, `--${name}: expected a positive integer, got ${n}`);
  return n;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const parsed = parseCommand(FLOOR, process.argv.slice(2));
  if (!parsed) process.exit(0);
  const args = parsed.values;
  const runs = positive(args, 'runs', 3);
  const count = positive(args, 'count', 200_000);
  const size = positive(args, 'payload', 1024);
  const window = positive(args, 'window', 1000);
  const results: RunResult[] = [];
  for (const store of FLOOR_VARIANTS) for (let r = 1; r <= runs; r++) results.push(await floorRun(store, r, count, size, window));
  const rows = groups(results).map((g) => {
    const each = g.A.map((x) => x.msgsPerSec!.toLocaleString('en-US')).join(', ');
    return `| floor | ${g.variant} | ${g.A.length} | ${fmtSpread(throughput(g), (x) => Math.round(x).toLocaleString('en-US'))} (${each}) | ${cpuPerMessage(g)} | ${g.A.reduce((a, x) => a + (x.missing ?? 0), 0)} |`;
  });
  process.stdout.write(`\n## The floor: workload A on the least possible Node.js broker (${count.toLocaleString('en-US')} × ${size} B, window ${window}, medians)\n\n`);
  process.stdout.write('| system | store | runs | msgs/s end-to-end (each run) | CPU µs/msg client / server | missing |\n|---|---|---|---|---|---|\n');
  process.stdout.write(rows.join('\n') + '\n');
}
