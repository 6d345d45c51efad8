/**
 * kill -9 in the redis store's shared mode (issue 14): three mailbox server processes on one
 * key prefix of the machine's Redis serve every shard together. SDK producers talk only to A,
 * SDK consumers only to B and to C; B is SIGKILLed while the producers run and started again
 * on the same data directory and ports. Checked: every acknowledged SEND is delivered, one
 * msgId per idempotency key, nothing delivered after its ACK succeeded, no message leased to
 * two consumers at once (see `leaseOverlaps`), and nothing left in Redis at the end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { MailboxClient, MailboxError, type ClientDelivery, type SendInput } from '../../src/client/index.ts';
import { LeasedDelivery } from '../../src/client/delivery.ts';
import { keyStart } from '../../src/store/redis-keys.ts';
import { deleteKeysWithPrefix, probeRedis, uniquePrefix } from '../fixtures/redis.ts';
import { ChildServer, sleep, testToken } from './child.ts';

const fileStart = Date.now();
const redis = await probeRedis();
const url = 'url' in redis ? redis.url : '';
const skip = 'skip' in redis ? redis.skip : false;

const TOTAL = Number(process.env.SHARED_CRASH_TOTAL ?? 6_000);
const KILLS = Number(process.env.SHARED_CRASH_KILLS ?? 2);
/** The run fails when nothing moves (no SEND acknowledged, no first delivery, no restart done) this long. */
const STALL_MS = Number(process.env.SHARED_CRASH_STALL_MS ?? 30_000);
const TOPICS = ['shared-crash:0', 'shared-crash:1', 'shared-crash:2', 'shared-crash:3'];
const PRODUCERS = 2;
const BATCH = 100;
/** Pause between one producer's batches, so production lasts long enough for the kills to land in it. */
const PACE_MS = Number(process.env.SHARED_CRASH_PACE_MS ?? 250);
/** Short, so that the leases a killed instance's sessions held come back within seconds. */
const VISIBILITY_MS = 3_000;
/** How long a handler works on a message before its ACK (up to): B holds leases when it is killed. */
const WORK_MS = 150;
/**
 * Deadlines and lease starts both come from Redis's clock (`TIME`, whole ms): a lease starts
 * at the earliest at the tick that saw the previous one's deadline pass. The margin only
 * absorbs rounding.
 */
const CLOCK_MARGIN_MS = 5;

/** One delivery as a handler saw it. */
interface DeliveryRecord {
  msgId: string;
  leaseId: string;
  attempt: number;
  /** Wall-clock ms at the handler. */
  receivedAt: number;
  /** Redis ms; the lease started at `leaseDeadline - VISIBILITY_MS` (nothing extends it). */
  leaseDeadline: number;
  consumer: Consumer;
  /** The consumer connection's epoch the delivery arrived on. */
  epoch: number;
  ack: 'pending' | 'ok' | string;
}

interface Consumer {
  name: 'B' | 'C';
  /** The epoch of its current connection: higher than a delivery's once that connection is gone. */
  epoch: number;
  /**
   * When its connection may have been lost: each kill of its instance (the socket dies with
   * the process), and every error the client reported (a lost connection is one of them).
   */
  lossAt: number[];
}

describe('redis store, shared mode, three instances under kill -9', { skip }, () => {
  const prefix = uniquePrefix('shared-crash');
  const dirs: string[] = [];
  const servers: ChildServer[] = [];
  const clients: MailboxClient[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    for (const s of servers) await s.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    const admin = new Redis(url, { lazyConnect: true });
    await admin.connect();
    const t0 = Date.now();
    const deleted = await deleteKeysWithPrefix(admin, keyStart(prefix));
    console.log(`# after: ${deleted} keys of this run's prefix deleted in ${Date.now() - t0} ms, ${Date.now() - fileStart} ms since the file started`);
    await admin.quit();
  });

  test(
    `${TOTAL.toLocaleString('en')} messages sent through A, consumed through B and C, B killed ${KILLS}x while producing: every acknowledged SEND is delivered, nothing after its ACK, no message leased twice at once`,
    { timeout: 180_000 },
    async (t) => {
      const start = (name: string): Promise<ChildServer> => {
        const dir = mkdtempSync(join(tmpdir(), `mailbox-shared-crash-${name}-`));
        dirs.push(dir);
        return ChildServer.start({
          args: ['--data-dir', dir, '--store', 'redis'],
          env: {
            MAILBOX_REDIS__URL: url,
            MAILBOX_REDIS__PREFIX: prefix,
            MAILBOX_REDIS__SHARED: 'true',
            // Attempts and backoff the kills cannot use up (see crash-recovery.test.ts).
            MAILBOX_QUEUE__MAX_ATTEMPTS: '50',
            MAILBOX_QUEUE__BACKOFF_MAX_MS: '1000',
          },
        });
      };
      const t0 = Date.now();
      const [A, B, C] = await Promise.all([start('a'), start('b'), start('c')]);
      servers.push(A!, B!, C!);
      const bootMs = Date.now() - t0;

      let progressAt = Date.now();
      const progressed = (): void => {
        progressAt = Date.now();
      };
      const stalled = (): boolean => t.signal.aborted || Date.now() - progressAt > STALL_MS;
      const violations: string[] = [];
      const integrityErrors: string[] = [];
      const connectOpts = {
        token: testToken(), maxReconnectDelayMs: 300, connectTimeoutMs: 5_000,
        onError: (e: Error) => {
          if (e instanceof MailboxError && e.code === 'E_INTEGRITY' && integrityErrors.length < 3) integrityErrors.push(e.message);
        },
      };

      // Consumers: one client on B, one on C, each subscribed to every topic.
      const sentAt = new Map<number, string>(); // index → msgId, once a SEND is acknowledged
      const byMsg = new Map<string, DeliveryRecord[]>();
      const ackedOk = new Set<string>();
      const consumers: Consumer[] = [{ name: 'B', epoch: 1, lossAt: [] }, { name: 'C', epoch: 1, lossAt: [] }];
      /** Handlers at work per consumer: B is killed while it holds leases. */
      const busy = { B: 0, C: 0 };
      const onDelivery = (consumer: Consumer) => async (d: ClientDelivery): Promise<void> => {
        if (ackedOk.has(d.msgId)) violations.push(`${d.msgId} delivered (attempt ${d.attempt}, on ${consumer.name}) after its ACK succeeded`);
        const epoch = d instanceof LeasedDelivery ? d.epoch : -1;
        const record: DeliveryRecord = {
          msgId: d.msgId, leaseId: d.leaseId, attempt: d.attempt, receivedAt: Date.now(), leaseDeadline: d.leaseDeadline, consumer, epoch, ack: 'pending',
        };
        const list = byMsg.get(d.msgId);
        if (list === undefined) {
          byMsg.set(d.msgId, [record]);
          progressed();
        } else list.push(record);
        busy[consumer.name]++;
        await sleep(Math.floor(Math.random() * WORK_MS));
        busy[consumer.name]--;
        try {
          await d.ack();
          record.ack = 'ok';
          ackedOk.add(d.msgId);
        } catch (err) {
          // Lost with the connection, or the lease already ended: the message comes again.
          record.ack = err instanceof MailboxError ? err.code : String(err);
        }
      };
      for (const [consumer, server] of [[consumers[0]!, B!], [consumers[1]!, C!]] as const) {
        const client = await MailboxClient.connect(server.url, {
          ...connectOpts,
          onError: (e) => {
            consumer.lossAt.push(Date.now());
            connectOpts.onError(e);
          },
          onReconnect: (info) => {
            consumer.epoch = Math.max(consumer.epoch, info.epoch);
          },
        });
        clients.push(client);
        for (const topic of TOPICS) client.subscribe({ topic, visibilityMs: VISIBILITY_MS, prefetch: 200, concurrency: 100 }, onDelivery(consumer));
      }

      // Producers, on A only: batches retried with the same idemKeys until acknowledged.
      let killsMade = 0;
      let sendRefusals = 0;
      let duplicateAnswers = 0;
      const refusalKinds = new Map<string, number>();
      const tally = (err: MailboxError): void => {
        const kind = `${err.code}: ${err.message.replace(/[0-9A-Z]{26}|\d+/g, '#').slice(0, 60)}`;
        refusalKinds.set(kind, (refusalKinds.get(kind) ?? 0) + 1);
      };
      const producers = await Promise.all(Array.from({ length: PRODUCERS }, () => MailboxClient.connect(A!.url, connectOpts)));
      clients.push(...producers);
      const produce = async (p: number): Promise<void> => {
        const mine: number[] = [];
        for (let i = p; i < TOTAL; i += PRODUCERS) mine.push(i);
        for (let at = 0; at < mine.length; ) {
          // Hold at the next gate until the kill before it is made: every kill lands while SENDs still flow.
          while (killsMade < KILLS && at >= (mine.length * (killsMade + 1)) / (KILLS + 1) && !stalled()) await sleep(20);
          const pending = mine.slice(at, at + BATCH).filter((i) => !sentAt.has(i));
          if (pending.length === 0) {
            at += BATCH;
            await sleep(PACE_MS);
            continue;
          }
          if (stalled()) throw new Error(`no progress for ${STALL_MS} ms (${sentAt.size} SENDs acknowledged)`);
          const inputs: SendInput[] = pending.map((i) => ({ topic: TOPICS[i % TOPICS.length]!, idemKey: `m-${i}`, payload: `message ${i}` }));
          let results: Array<{ msgId: string; duplicate: boolean } | MailboxError>;
          try {
            results = await producers[p]!.sendBatch(inputs);
          } catch (err) {
            if (!(err instanceof MailboxError)) throw err;
            sendRefusals++;
            tally(err);
            await sleep(Math.min(err.retryAfterMs ?? 50, 200));
            continue;
          }
          results.forEach((r, k) => {
            const i = pending[k]!;
            if (r instanceof MailboxError) {
              sendRefusals++;
              tally(r);
              if (r.code !== 'E_UNAVAILABLE' && r.code !== 'E_SATURATED') violations.push(`SEND m-${i} refused with ${r.code}: ${r.message}`);
              return;
            }
            const earlier = sentAt.get(i);
            if (earlier !== undefined && earlier !== r.msgId) violations.push(`m-${i} got two msgIds: ${earlier}, ${r.msgId}`);
            if (r.duplicate) duplicateAnswers++;
            if (earlier === undefined) progressed();
            sentAt.set(i, r.msgId);
          });
          if (pending.some((i) => !sentAt.has(i))) await sleep(50);
        }
      };
      const producing = Promise.all(Array.from({ length: PRODUCERS }, (_, p) => produce(p)));
      producing.catch(() => {}); // awaited below, after the kills: a stall must not count as unhandled meanwhile
      let producingDone = false;
      void producing.then(() => (producingDone = true), () => {});

      // The killer: B goes down with kill -9 once a share of the SENDs is acknowledged (half-way
      // to the producers' next gate), and comes back on the same dir and ports.
      const restartMs: number[] = [];
      const sentAtKill: number[] = [];
      const busyAtKill: number[] = [];
      for (let k = 0; k < KILLS && !stalled(); k++) {
        const threshold = Math.floor((TOTAL * (k + 0.5)) / (KILLS + 1));
        while (sentAt.size < threshold && !stalled() && !producingDone) await sleep(20);
        await sleep(Math.floor(Math.random() * 300));
        for (const until = Date.now() + 3_000; busy.B === 0 && Date.now() < until; ) await sleep(5);
        sentAtKill.push(sentAt.size);
        busyAtKill.push(busy.B);
        consumers[0]!.lossAt.push(Date.now());
        await B!.kill9();
        killsMade++;
        restartMs.push(await B!.launch());
        progressed();
      }
      await producing;
      const producedAt = Date.now();

      // Done when every acknowledged SEND was delivered and no instance reports anything left.
      const allEmpty = async (): Promise<boolean> => {
        const live = await Promise.all([A!, B!, C!].map((s) => s.depths().catch(() => undefined)));
        return live.every((d) => d !== undefined && d.ready + d.delayed + d.leased === 0);
      };
      while (!stalled() && !([...sentAt.values()].every((id) => byMsg.has(id)) && (await allEmpty()))) await sleep(100);
      const doneAt = Date.now();
      const left = await Promise.all([A!, B!, C!].map((s) => s.depths()));

      // NO MESSAGE LEASED TWICE AT ONCE. For each msgId, in the order the handlers saw them,
      // attempts must rise strictly and lease ids differ (the fencing id is new per lease).
      // A redelivery must start at or after the previous lease's deadline: the lease script
      // sets deadline = now + visibility, both in Redis time, so the redelivery's own
      // `leaseDeadline - VISIBILITY_MS` is its start (nothing here extends a lease), and the
      // tick requeues a lease only once its deadline has passed. The handler's wall clock
      // (same machine as Redis) must agree. The previous lease may have ended earlier only
      // when its holder's session ended: its consumer's connection was lost (the client is on
      // a newer epoch now) between the previous delivery and the redelivery. Its instance then
      // released the lease (session_lost), or the instance itself died (B at a kill) and the
      // lease ends at its deadline, as the docs promise; either way its late ACK fails.
      // Anything else early means two live leases at once. Skipped attempts are leases no
      // handler saw (pushed into a connection that died, or still queued in the client then).
      const causes = new Map<string, number>();
      const cause = (c: string): void => {
        causes.set(c, (causes.get(c) ?? 0) + 1);
      };
      let deliveriesTotal = 0;
      let skippedAttempts = 0;
      let minGapMs = Number.POSITIVE_INFINITY;
      const perConsumer = { B: 0, C: 0 };
      /** B's deliveries per connection (one per start of B). */
      const perEpochB = new Map<number, number>();
      for (const [msgId, list] of byMsg) {
        deliveriesTotal += list.length;
        skippedAttempts += list[0]!.attempt - 1;
        for (const r of list) {
          perConsumer[r.consumer.name]++;
          if (r.consumer.name === 'B') perEpochB.set(r.epoch, (perEpochB.get(r.epoch) ?? 0) + 1);
        }
        const okAcks = list.filter((r) => r.ack === 'ok');
        if (okAcks.length > 1 || (okAcks.length === 1 && okAcks[0] !== list.at(-1))) {
          violations.push(`${msgId}: an ACK succeeded on a lease that was not the last one (${list.map((r) => `${r.leaseId}/${r.ack}`).join(', ')})`);
        }
        for (let i = 1; i < list.length; i++) {
          const prev = list[i - 1]!;
          const next = list[i]!;
          if (next.attempt <= prev.attempt) violations.push(`${msgId}: attempt ${next.attempt} came after attempt ${prev.attempt}`);
          if (next.leaseId === prev.leaseId) violations.push(`${msgId}: lease ${next.leaseId} delivered twice`);
          skippedAttempts += Math.max(0, next.attempt - prev.attempt - 1);
          const gap = next.leaseDeadline - VISIBILITY_MS - prev.leaseDeadline;
          const sessionEnded = prev.consumer.epoch > prev.epoch && prev.consumer.lossAt.some((at) => at >= prev.receivedAt && at <= next.receivedAt);
          const early = gap < -CLOCK_MARGIN_MS || next.receivedAt < prev.leaseDeadline - CLOCK_MARGIN_MS;
          if (!early) minGapMs = Math.min(minGapMs, gap);
          if (early && !sessionEnded) {
            violations.push(`${msgId}: lease ${next.leaseId} (attempt ${next.attempt}, ${next.consumer.name}) started ${-gap} ms before the deadline of lease ${prev.leaseId} (${prev.consumer.name}, ack ${prev.ack}), whose session was alive`);
          }
          if (early) cause(sessionEnded ? `released early: ${prev.consumer.name}'s connection lost` : 'early while the holder was connected (violation)');
          else if (sessionEnded) cause(`expired: ${prev.consumer.name}'s connection lost${prev.consumer.name === 'B' ? ' (B killed)' : ''}`);
          else cause(`expired: ACK ${prev.ack}`);
        }
      }
      const undelivered = [...sentAt.values()].filter((id) => !byMsg.has(id));
      const duplicates = deliveriesTotal - byMsg.size;
      console.log(
        `# shared mode, 3 instances: ${TOTAL} messages via A, ${KILLS} kill -9 of B at ${sentAtKill.join('/')} SENDs acknowledged (B's handlers at work ${busyAtKill.join('/')}): ` +
          `${sentAt.size} SENDs acknowledged (${duplicateAnswers} answered as duplicates), ${byMsg.size} delivered (${deliveriesTotal} deliveries: ` +
          `B ${perConsumer.B} (per connection ${[...perEpochB].sort((a, b) => a[0] - b[0]).map(([e, n]) => `#${e}:${n}`).join(' ')}), C ${perConsumer.C}; ${duplicates} duplicates, ${skippedAttempts} leases no handler saw), ${sendRefusals} SEND refusals retried, ` +
          `${ackedOk.size} ACKs confirmed, boot ${(bootMs / 1000).toFixed(1)} s, B restarts to ready ${restartMs.map((m) => Math.round(m)).join('/')} ms, ` +
          `produced in ${((producedAt - t0 - bootMs) / 1000).toFixed(1)} s, done in ${((doneAt - t0 - bootMs) / 1000).toFixed(1)} s ` +
          `(${((Date.now() - t0) / 1000).toFixed(1)} s with boot); smallest redelivery gap after a deadline ${Number.isFinite(minGapMs) ? minGapMs : '-'} ms; ` +
          `left A/B/C ${left.map((d) => JSON.stringify(d)).join(' ')}`,
      );
      console.log(`# redeliveries by cause: ${JSON.stringify([...causes])}`);
      console.log(`# SEND refusals by kind: ${JSON.stringify([...refusalKinds])}`);
      if (integrityErrors.length > 0) console.log(`# integrity refusals: ${JSON.stringify(integrityErrors)}`);

      // The servers are left to the after hook's kill -9: ChildServer.stop() would keep this
      // file's process alive for its whole grace period (its timer is not cleared on exit).
      await Promise.all(clients.map((c) => c.close()));
      assert.deepEqual(violations.slice(0, 10), [], `${violations.length} violations`);
      assert.equal(restartMs.length, KILLS, `every kill -9 was made and recovered from (stalled: ${stalled()})`);
      assert.ok(sentAtKill.every((n) => n < TOTAL), `every kill landed while SENDs were still being acknowledged (${sentAtKill.join('/')})`);
      assert.equal(sentAt.size, TOTAL, 'every SEND was eventually acknowledged');
      assert.equal(new Set(sentAt.values()).size, TOTAL, 'one msgId per idempotency key');
      assert.deepEqual(undelivered.slice(0, 10), [], `${undelivered.length} acknowledged SENDs never delivered`);
      const empty = { ready: 0, delayed: 0, leased: 0, dlq: 0 };
      assert.deepEqual(left, [empty, empty, empty], 'every message was consumed: none stuck, as each instance sees Redis');
    },
  );
});
