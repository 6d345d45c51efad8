/**
 * What the pressure drills (cpu, latency) share: a fault injected into a real server over its
 * admin port (`POST /admin/chaos`, as `mailbox chaos inject` does), a producer that times every
 * SEND batch it gets admitted, and a watcher of `/readyz` that notes when the state changed.
 */
import { ANY_TENANT, KeyRing, mint } from '../src/auth/index.ts';
import { MailboxClient, MailboxError, type SendInput } from '../src/client/index.ts';
import { TEST_SECRET } from '../test/durability/child.ts';
import { sleep } from './actors.ts';
import type { Ledger } from './ledger.ts';
import { ackingConsumer, clientOptions } from './remote.ts';
import { seriesBy } from './timeline.ts';

/** An admin token for every tenant (fault injection acts on all of them) that the drill servers accept. */
export function operatorToken(): string {
  return mint(new KeyRing('k1', TEST_SECRET), { caveats: [{ kind: 'tenant', tenant: ANY_TENANT }] });
}

/** POST /admin/chaos with `spec`; throws with the server's message when refused. */
export async function injectFault(adminUrl: string, spec: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${adminUrl}/admin/chaos`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${operatorToken()}` },
    body: JSON.stringify(spec),
  });
  if (res.status !== 200) throw new Error(`chaos inject ${JSON.stringify(spec)} refused: ${res.status} ${await res.text()}`);
}

/** One labelled series of a counter on the server's /metrics (`rejected_total`, `reason`, `degraded`). */
export async function seriesValue(adminUrl: string, name: string, label: string, value: string): Promise<number> {
  return seriesBy(await (await fetch(`${adminUrl}/metrics`)).text(), name, label).get(value) ?? 0;
}

/** The nearest-rank percentile of some durations (ms); NaN when there are none. */
export function percentile(ms: readonly number[], p: number): number {
  if (ms.length === 0) return Number.NaN;
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Polls /readyz every `everyMs`: the state now, and when (performance.now()) each state was first seen after `since`. */
export class ReadyzWatch {
  state = 'unknown';
  reasons: string[] = [];
  private readonly firstSeen = new Map<string, number>();
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(adminUrl: string, everyMs = 100) {
    this.done = (async () => {
      while (!this.stopped) {
        try {
          const body = (await (await fetch(`${adminUrl}/readyz`)).json()) as { state?: string; reasons?: string[] };
          this.state = body.state ?? 'unknown';
          this.reasons = body.reasons ?? [];
        } catch {
          this.state = 'down';
        }
        if (!this.firstSeen.has(this.state)) this.firstSeen.set(this.state, performance.now());
        await sleep(everyMs);
      }
    })();
  }

  /** Forget what was seen so far: `seenAt` answers for states seen from now on. */
  reset(): void {
    this.firstSeen.clear();
  }

  seenAt(state: string): number | undefined {
    return this.firstSeen.get(state);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** Latencies of admitted requests, by the phase they were sent in. */
export class PhaseTimes {
  phase = 'baseline';
  readonly byPhase = new Map<string, number[]>();

  add(ms: number): void {
    let list = this.byPhase.get(this.phase);
    if (!list) this.byPhase.set(this.phase, (list = []));
    list.push(ms);
  }

  get(phase: string): number[] {
    return this.byPhase.get(phase) ?? [];
  }
}

/**
 * A steady producer: batches of `batch` with `pauseMs` between them, until `stop()` (looked at
 * between batches; a batch is retried to an answer, since a lost reply may have stored it). A
 * batch admitted whole has its round trip added to `times`; a refused item is counted by code
 * and retried with its idemKey.
 */
export async function timedProducer(
  client: MailboxClient,
  ledger: Ledger,
  o: { topics: readonly string[]; batch: number; pauseMs: number; times: PhaseTimes; stop: () => boolean },
): Promise<{ refusedByCode: Map<string, number>; fatal: string[] }> {
  const refusedByCode = new Map<string, number>();
  const fatal: string[] = [];
  for (let n = 0; !o.stop(); ) {
    let pending = Array.from({ length: o.batch }, () => n++);
    while (pending.length > 0) {
      const inputs: SendInput[] = pending.map((i) => ({ topic: o.topics[i % o.topics.length]!, idemKey: `m-${i}`, payload: `message ${i}` }));
      const t0 = performance.now();
      let results: Array<{ msgId: string } | MailboxError>;
      try {
        results = await client.sendBatch(inputs);
      } catch (err) {
        if (!(err instanceof MailboxError)) throw err;
        refusedByCode.set(err.code, (refusedByCode.get(err.code) ?? 0) + 1);
        await sleep(Math.min(err.retryAfterMs ?? 50, 200));
        continue;
      }
      const ms = performance.now() - t0;
      const again: number[] = [];
      results.forEach((r, k) => {
        if (!(r instanceof MailboxError)) ledger.accepted(inputs[k]!.idemKey, r.msgId as Parameters<Ledger['accepted']>[1]);
        else {
          refusedByCode.set(r.code, (refusedByCode.get(r.code) ?? 0) + 1);
          if (r.retryable) again.push(pending[k]!);
          else if (fatal.length < 5) fatal.push(`${inputs[k]!.idemKey}: ${r.code} ${r.message}`);
        }
      });
      if (again.length === 0) o.times.add(ms);
      else {
        const retryAfter = results.find((r): r is MailboxError => r instanceof MailboxError)?.retryAfterMs;
        await sleep(Math.min(retryAfter ?? 50, 200));
      }
      pending = again;
    }
    await sleep(o.pauseMs);
  }
  return { refusedByCode, fatal };
}

/**
 * The live load of the pressure drills (cpu, latency): two acking consumers over half the 16
 * topics each and one producer of 20-message batches every 20 ms, every admitted request timed
 * into `times`. Clients go into `clients` (the drill closes them); `stop` ends the producer.
 */
export async function startPressureLoad(url: string, ledger: Ledger, topicPrefix: string, clients: MailboxClient[]) {
  const inDoubt = new Set<string>();
  const topics = Array.from({ length: 16 }, (_, i) => `${topicPrefix}:${i}`);
  const connect = async (): Promise<MailboxClient> => {
    const c = await MailboxClient.connect(url, clientOptions());
    clients.push(c);
    return c;
  };
  const times = new PhaseTimes();
  const consumers = [await connect(), await connect()];
  const acking = consumers.map((c, i) => ackingConsumer(c, ledger, topics.filter((_, k) => k % 2 === i), inDoubt, { onAckMs: (ms) => times.add(ms) }));
  const producer = await connect();
  let producing = true;
  const produced = timedProducer(producer, ledger, { topics, batch: 20, pauseMs: 20, times, stop: () => !producing });
  produced.catch(() => {});
  return { times, consumers, acking, produced, stop: (): void => void (producing = false) };
}
