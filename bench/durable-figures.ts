/**
 * `mailbox bench --figures durable`: what the LevelDB store costs in RAM and in restart time,
 * measured on a real server over real sockets (the send+recv+ack throughput of the same store
 * is workload A on `level+sync`, which the runner runs before these in this mode).
 *
 * - **Restart.** A fresh server is killed with SIGKILL and started again on its empty store,
 *   three times: spawn → /readyz 200 each time. Then `restartMessages` are queued, the server
 *   is killed with SIGKILL and started again: spawn → /readyz 200, and how many messages the
 *   rebuilt server holds (all of them, or the figure is reported as a problem).
 * - **RSS.** Another fresh server. First a warm-up: messages sent, received and acked, so
 *   that one-time costs (compiled code, buffers, memtables) stay out of the slope. Then
 *   `messages` are queued in four equal steps. Before the first step and after each one the
 *   server runs a full GC (node --expose-gc, asked over IPC, see gc-hook.mjs) and VmRSS is
 *   read from /proc/<pid>/status. The least-squares slope over the five points is the RAM
 *   one queued message costs.
 *
 * Both fills run at durability `relaxed`: it changes neither the RAM per message nor the
 * rebuild, and fills several times faster. The fill (fill.ts) uses several producer
 * connections, each with a window of pipelined sends coalesced into SEND_BATCH frames, over
 * 64 topics.
 */
import type { MailboxClient } from '../src/client/index.ts';
import { Filler } from './fill.ts';
import { deadline, now, round } from './lib.ts';
import { connect } from './mailbox.ts';
import type { Progress } from './progress.ts';
import { startMailbox, type MailboxServer, type StartOptions } from './server.ts';
import type { BenchOptions, DurableFigures, FiguresOptions, RssPoint } from './types.ts';

const TOPICS = 64;
const PRODUCERS = 4;
const EMPTY_RESTARTS = 3;
/** Messages sent, received and acked before the first RSS sample (at most the figure's N). */
const WARM_UP = 20_000;
/** Rebuilding millions of messages may take minutes; the fill's stall watchdog is `--timeout`. */
const READY_TIMEOUT_MS = 30 * 60_000;
const MiB = 1024 * 1024;
/**
 * The shard bound is raised so that the figures show what memory allows, not where the defaults
 * refuse SENDs. Everything else is the default: with LevelDB `dedupCapacity` no longer refuses
 * SENDs but sizes each shard's Bloom filter, which is allocated in full.
 */
const SERVER_ENV = { MAILBOX_QUEUE__SHARD_CAPACITY: '100000000' };

const mib = (bytes: number): number => round(bytes / MiB, 1);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function failed(progress: Progress, what: string, err: unknown): string {
  progress.end();
  progress.note(`durable figures: ${what} FAILED: ${message(err).split('\n')[0]}`);
  return message(err);
}

/** The figures' servers: the raised shard bound, then the caller's `--server-env` (which may lower the windows, say). */
function serverEnv(opts: BenchOptions): Record<string, string> {
  return { ...SERVER_ENV, ...opts.serverEnv };
}

function serverOptions(opts: BenchOptions): StartOptions {
  // V8's own old-space ceiling, as `npm start` runs it: a raised one only makes V8 keep more heap committed.
  return { variant: 'level+relaxed', exposeGc: true, readyTimeoutMs: READY_TIMEOUT_MS, extraEnv: serverEnv(opts) };
}

let tags = 0;
/** Unique per process and call: topics and idemKeys never collide with an earlier fill's. */
const runTag = (): string => `figures.${process.pid.toString(36)}${Date.now().toString(36)}${(tags++).toString(36)}`;

function producers(server: MailboxServer): Promise<MailboxClient[]> {
  return Promise.all(Array.from({ length: PRODUCERS }, (_, i) => connect(server, `bench-figures-${i}`)));
}

/**
 * Sends `n` messages and receives and acks them all, so that the first RSS sample is of a
 * server whose hot path is compiled and whose buffers and LevelDB memtables are in use:
 * those one-time costs would otherwise land in the per-message slope.
 */
async function warmUp(server: MailboxServer, clients: readonly MailboxClient[], n: number, opts: BenchOptions): Promise<void> {
  const filler = new Filler(clients, `${runTag()}.warm-up`, TOPICS, opts.payload);
  const consumer = await connect(server, 'bench-figures-warm-up');
  let acked = 0;
  let ackError: Error | undefined;
  let allAcked!: () => void;
  const all = new Promise<void>((r) => (allAcked = r));
  try {
    const subs = filler.topics.map((topic) => consumer.subscribe({ topic, prefetch: 1_000, visibilityMs: 60_000 }, (d) => {
      d.ack().then(
        () => void (++acked >= n && allAcked()),
        (e: Error) => ((ackError ??= e), allAcked()),
      );
    }));
    await Promise.all(subs.map((s) => s.ready));
    await filler.fillTo(n, opts.timeoutS * 1000);
    await deadline(all, opts.timeoutS * 1000, `warm-up: receiving and acking ${n} messages`);
    if (ackError) throw ackError;
    await Promise.all(subs.map((s) => s.close()));
  } finally {
    await consumer.close();
  }
}

async function sample(server: MailboxServer, messages: number): Promise<RssPoint> {
  const m = await server.memory();
  return { messages, rssMiB: mib(m.rssBytes), rssAnonMiB: mib(m.rssAnonBytes), rssFileMiB: mib(m.rssFileBytes), heapUsedMiB: mib(m.heapUsedBytes), heapTotalMiB: mib(m.heapTotalBytes), arrayBuffersMiB: mib(m.arrayBuffersBytes) };
}

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<{ x: number; y: number }>): number {
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  const mx = mean(points.map((p) => p.x));
  const my = mean(points.map((p) => p.y));
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return den === 0 ? Number.NaN : points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / den;
}

async function restartFigures(f: FiguresOptions, opts: BenchOptions, progress: Progress): Promise<DurableFigures['restart']> {
  const out: DurableFigures['restart'] = { messages: f.restartMessages, emptyReadyMs: [] };
  progress.note(`durable figures: restart after kill -9, empty store (×${EMPTY_RESTARTS}) and ${f.restartMessages.toLocaleString('en-US')} messages`);
  let server: MailboxServer | undefined;
  try {
    server = await startMailbox(serverOptions(opts));
    for (let i = 0; i < EMPTY_RESTARTS; i++) out.emptyReadyMs.push(round(await server.crashRestart(), 1));
    progress.begin(`durable figures: filling ${f.restartMessages.toLocaleString('en-US')} for the restart`);
    const clients = await producers(server);
    const t0 = now();
    try {
      const filler = new Filler(clients, runTag(), TOPICS, opts.payload);
      await filler.fillTo(f.restartMessages, opts.timeoutS * 1000, (done) => progress.update(done, f.restartMessages));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    out.fillSeconds = round((now() - t0) / 1000, 1);
    progress.end(`${f.restartMessages.toLocaleString('en-US')} queued in ${out.fillSeconds} s; kill -9, start again`);
    out.readyMs = round(await server.crashRestart(), 1);
    out.readyAfter = (await server.depths()).ready;
    out.rssAfterMiB = mib((await server.memory()).rssBytes);
    if (out.readyAfter !== f.restartMessages) out.error = `after kill -9 the server holds ${out.readyAfter} of ${f.restartMessages} messages`;
    progress.note(`durable figures: ready ${out.readyMs} ms after spawn with ${f.restartMessages.toLocaleString('en-US')} on disk (empty store: ${out.emptyReadyMs.join(', ')} ms)`);
  } catch (err) {
    out.error = failed(progress, 'restart', err);
  } finally {
    await server?.stop();
  }
  return out;
}

async function rssFigures(f: FiguresOptions, opts: BenchOptions, progress: Progress): Promise<DurableFigures['rss']> {
  const points: RssPoint[] = [];
  const out: DurableFigures['rss'] = { messages: f.messages, warmUpMessages: Math.min(WARM_UP, f.messages), points };
  let server: MailboxServer | undefined;
  try {
    server = await startMailbox(serverOptions(opts));
    const clients = await producers(server);
    let fillMs = 0;
    try {
      out.beforeWarmUp = await sample(server, 0);
      progress.note(`durable figures: fresh server: RSS ${out.beforeWarmUp.rssMiB} MiB; warm-up, ${out.warmUpMessages.toLocaleString('en-US')} sent, received and acked`);
      await warmUp(server, clients, out.warmUpMessages, opts);
      points.push(await sample(server, 0));
      progress.note(`durable figures: after the warm-up, 0 queued: RSS ${points[0]!.rssMiB} MiB`);
      progress.begin(`durable figures: RSS while filling ${f.messages.toLocaleString('en-US')}`);
      const filler = new Filler(clients, runTag(), TOPICS, opts.payload);
      for (const mark of [1, 2, 3, 4].map((q) => Math.floor((f.messages * q) / 4))) {
        const t0 = now();
        await filler.fillTo(mark, opts.timeoutS * 1000, (done) => progress.update(done, f.messages));
        fillMs += now() - t0;
        const p = await sample(server, mark);
        points.push(p);
        progress.note(`durable figures: ${mark.toLocaleString('en-US')} queued: RSS ${p.rssMiB} MiB (anon ${p.rssAnonMiB}, file ${p.rssFileMiB}), JS heap ${p.heapUsedMiB} of ${p.heapTotalMiB} MiB, ArrayBuffers ${p.arrayBuffersMiB} MiB`);
      }
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    // Sending only: the GCs and samples between the steps are not counted.
    const seconds = fillMs / 1000;
    out.fillSeconds = round(seconds, 1);
    out.fillPerSec = Math.round(f.messages / seconds);
    const perMsg = slope(points.map((p) => ({ x: p.messages, y: p.rssMiB * MiB })));
    out.bytesPerMessage = Math.round(perMsg);
    const [half, all] = [points[2]!, points[4]!];
    out.lastHalfBytesPerMessage = Math.round(((all.rssMiB - half.rssMiB) * MiB) / (all.messages - half.messages));
    out.heapBytesPerMessage = Math.round(slope(points.map((p) => ({ x: p.messages, y: p.heapUsedMiB * MiB }))));
    out.projectedMiBAt5M = mib(points[0]!.rssMiB * MiB + perMsg * 5_000_000);
    progress.end(`${out.bytesPerMessage} B of RSS per queued message, ${out.lastHalfBytesPerMessage} B over the last half (${out.fillPerSec.toLocaleString('en-US')} msgs/s fill)`);
  } catch (err) {
    out.error = failed(progress, 'RSS', err);
  } finally {
    await server?.stop();
  }
  return out;
}

/** Runs both figures, one server at a time; failures are reported in the result, not thrown. */
export async function durableFigures(f: FiguresOptions, opts: BenchOptions, progress: Progress): Promise<DurableFigures> {
  const restart = await restartFigures(f, opts, progress);
  const rss = await rssFigures(f, opts, progress);
  return {
    variant: 'level+relaxed',
    payload: opts.payload,
    topics: TOPICS,
    producers: PRODUCERS,
    serverEnv: serverEnv(opts),
    rss,
    restart,
  };
}
