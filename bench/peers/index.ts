/** The peers `mailbox bench --peers` runs, in order, filtered by --only-peers. */
import type { BenchOptions } from '../types.ts';
import type { PeerGroup } from './common.ts';
import { natsGroup } from './nats.ts';
import { rabbitGroup } from './rabbitmq.ts';
import { redisAlwaysGroup, redisGroup } from './redis.ts';

export const PEER_NAMES = ['nats', 'redis', 'redis-always', 'rabbitmq-classic', 'rabbitmq-quorum'] as const;

/** Hides a group's environment type: the runner only hands back what `setup` returned. */
function erase<E>(g: PeerGroup<E>): PeerGroup<unknown> {
  return {
    name: g.name,
    setup: () => g.setup(),
    teardown: (env) => g.teardown(env as E),
    variants: g.variants.map((v) => ({ system: v.system, variant: v.variant, run: (env, ...rest) => v.run(env as E, ...rest) })),
  };
}

export function peerGroups(opts: BenchOptions): Array<PeerGroup<unknown>> {
  const want = new Set<string>(opts.peerFilter ?? PEER_NAMES);
  for (const name of want) {
    if (!(PEER_NAMES as readonly string[]).includes(name)) throw new Error(`--only-peers: unknown peer ${JSON.stringify(name)} (${PEER_NAMES.join(', ')})`);
  }
  const groups: Array<PeerGroup<unknown>> = [];
  if (want.has('nats')) groups.push(erase(natsGroup()));
  if (want.has('redis')) groups.push(erase(redisGroup()));
  if (want.has('redis-always')) groups.push(erase(redisAlwaysGroup()));
  const rabbit = (['classic', 'quorum'] as const).filter((t) => want.has(`rabbitmq-${t}`));
  if (rabbit.length) groups.push(erase(rabbitGroup([...rabbit])));
  return groups;
}
