/**
 * The shard actor: XState wiring around ShardCore. The logic is a `fromTransition` reducer
 * (cheap per event, see ARCHITECTURE.md) whose state is the core; a throw in the reducer is
 * a crash the supervisor sees, and `$crash` makes one on purpose.
 */
import { createActor, fromTransition } from 'xstate';
import { actorChild, crashable } from '../supervisors/actor-child.ts';
import type { Child } from '../supervisors/child.ts';
import { ShardCore, type ShardCoreDeps } from './shard-core.ts';
import type { ShardEvent } from './shard-events.ts';
import type { ShardRef } from './shard-ref.ts';

export const shardLogic = crashable(
  fromTransition(
    (core: ShardCore, event: ShardEvent) => {
      core.handle(event);
      return core;
    },
    ({ input }: { input: ShardCore }) => input,
  ),
);

/** Starts one shard actor instance bound to `ref`, and returns it as a supervised child. */
export function startShard(ref: ShardRef, deps: Omit<ShardCoreDeps, 'send'>): Child {
  let send: (event: ShardEvent) => void = () => {};
  const core = new ShardCore({ ...deps, send: (event) => send(event) });
  const actor = createActor(shardLogic, { input: core });
  send = (event) => actor.send(event);
  actor.subscribe({
    error: (error: unknown) => ref.detach(core, error instanceof Error ? error.message : String(error)),
    complete: () => ref.detach(core, 'stopped'),
  });
  const child = actorChild(actor, {
    describe: () => ({ state: core.status, depths: core.queue.depths() }),
  });
  ref.attach(core, send);
  core.load();
  return child;
}
