/**
 * The shard actor of a shared-mode mailbox: the same XState wiring as shard.ts, around
 * SharedShardCore (Redis holds the queue). A throw in the reducer is a crash the supervisor sees.
 */
import { createActor, fromTransition } from 'xstate';
import { actorChild, crashable } from '../supervisors/actor-child.ts';
import type { Child } from '../supervisors/child.ts';
import type { ShardEvent } from './shard-events.ts';
import type { ShardRef } from './shard-ref.ts';
import { SharedShardCore, type SharedShardDeps } from './shared-shard-core.ts';

const sharedShardLogic = crashable(
  fromTransition(
    (core: SharedShardCore, event: ShardEvent) => {
      core.handle(event);
      return core;
    },
    ({ input }: { input: SharedShardCore }) => input,
  ),
);

export function startSharedShard(ref: ShardRef, deps: Omit<SharedShardDeps, 'send'>): Child {
  let send: (event: ShardEvent) => void = () => {};
  const core = new SharedShardCore({ ...deps, send: (event) => send(event) });
  const actor = createActor(sharedShardLogic, { input: core });
  send = (event) => actor.send(event);
  actor.subscribe({
    error: (error: unknown) => ref.detach(core, error instanceof Error ? error.message : String(error)),
    complete: () => ref.detach(core, 'stopped'),
  });
  const child = actorChild(actor, { describe: () => ({ state: core.status, depths: core.queue.depths() }) });
  ref.attach(core, send);
  core.load();
  return child;
}
