/**
 * `redis-shared-3`: three svc-mailbox server processes in the redis store's shared mode on one
 * key prefix, as one MailboxServer to the workloads. Each member is a server of its own
 * (bench/server.ts: own ports, temp dir and so instance id); the group owns the prefix.
 *
 * Placement: producers connect to instance 1, consumers to instances 2 and 3 in turn, so every
 * message crosses instances (enqueued by one, leased by another through the wake-up); the
 * fan-out's one client is a producer. The members share one token signing key (made here, passed
 * in their environment) and the bench mints the cross-tenant admin token with it, as a first
 * start would, so one token opens a session on any of them. CPU is the three processes and redis-server together;
 * depths come from Redis itself (every member would show all of them).
 */
import { ANY_TENANT, KeyRing, generateKey, mint } from '../src/auth/index.ts';
import type { GcTotals } from './gc.ts';
import { benchPrefix, redisBackend, startMailbox, type MailboxServer, type StartOptions } from './server.ts';

const MEMBERS = 3;

export async function startSharedGroup(options: Omit<StartOptions, 'variant' | 'redisPrefix' | 'exposeGc'>): Promise<MailboxServer> {
  const prefix = benchPrefix();
  const redis = await redisBackend(prefix);
  const secret = generateKey();
  const token = mint(new KeyRing('k1', secret), { caveats: [{ kind: 'tenant', tenant: ANY_TENANT }] });
  const extraEnv = { ...options.extraEnv, MAILBOX_AUTH__KEYS: `k1=${secret}`, MAILBOX_AUTH__ACTIVE_KID: 'k1' };
  const members: MailboxServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.stop()));
    // After every member is gone: none of them writes under the prefix any more.
    await redis.cleanup().catch(() => {});
  };
  try {
    // One at a time: three Node processes compiling at once on 2 cores may miss the ready timeout.
    for (let i = 0; i < MEMBERS; i++) members.push(await startMailbox({ ...options, extraEnv, token, variant: 'redis-shared', redisPrefix: prefix }));
  } catch (err) {
    await stop();
    throw err;
  }
  const [first, ...rest] = members as [MailboxServer, ...MailboxServer[]];
  return {
    get pid() {
      return first.pid;
    },
    otherPids: rest.map((m) => m.pid),
    url: first.url,
    urls: { producers: [first.url], consumers: rest.map((m) => m.url) },
    adminUrl: first.adminUrl,
    token: first.token,
    variant: 'redis-shared-3',
    get readyMs() {
      return Math.max(...members.map((m) => m.readyMs));
    },
    depths: () => redis.backend.sharedDepths(),
    // Summed over the members: a pause stops only its own process, so "share of the run" is of one process's time.
    gcTotals: async () => sumGc(await Promise.all(members.map((m) => m.gcTotals()))),
    crashRestart: () => Promise.reject(new Error('redis-shared-3: crashRestart is for one server (the durable figures)')),
    memory: () => Promise.reject(new Error('redis-shared-3: memory() is for one server started with exposeGc')),
    log: () => members.map((m, i) => `--- instance ${i + 1} ---\n${m.log()}`).join('\n'),
    backend: redis.backend,
    stop,
  };
}

function sumGc(all: readonly GcTotals[]): GcTotals {
  return all.reduce((a, g) => ({ pauses: a.pauses + g.pauses, ms: a.ms + g.ms, over1ms: a.over1ms + g.over1ms, over10ms: a.over10ms + g.over10ms }));
}
