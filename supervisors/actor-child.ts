/**
 * The bridge between XState v5 actors and our supervisors.
 *
 * XState reports a failure as an error snapshot (`status: 'error'`, the `error` observer
 * callback) and a finished actor as a `done` snapshot; it never restarts anything. `actorChild`
 * turns those into `ChildExit`s a `Supervisor` acts on.
 *
 * Crashing on purpose (`kill`, for chaos drills) must look exactly like a real failure, so it
 * goes through XState's own error path: the adapter sends `{ type: '$crash', reason }` and the
 * actor's logic throws while handling it. Wrap the logic with `crashable(logic)` and that is
 * done for you, for machines and `fromTransition` reducers alike; a machine may instead handle
 * `$crash` itself with an action that throws. Logic that ignores `$crash` is stopped and
 * reported as crashed anyway, so the supervisor still sees a crash, but XState's own error
 * path (inspection, parent error events) is skipped.
 */
import type { AnyActorLogic, AnyActorRef, Snapshot } from 'xstate';
import type { Child, ChildDescription, ChildExit } from './child.ts';

export const CRASH_EVENT = '$crash';

/** The event that makes a `crashable` actor fail. */
export interface CrashEvent {
  type: typeof CRASH_EVENT;
  reason: string;
}

/** The error a `crashable` actor fails with when it receives `$crash`. */
export class InjectedCrash extends Error {
  override readonly name = 'InjectedCrash';
}

function isCrashEvent(event: unknown): event is CrashEvent {
  return (event as { type?: unknown } | null)?.type === CRASH_EVENT;
}

/**
 * Returns logic that behaves like `logic` except that it throws `InjectedCrash` when it
 * receives `{ type: '$crash', reason }`, so the actor fails the way a bug would.
 *
 * @example
 * ```ts
 * const actor = createActor(crashable(shardMachine), { input });
 * supervisor.startChild({ id: 'shard-0', kind: 'shard', restart: 'permanent',
 *   start: () => actorChild(createActor(crashable(shardMachine), { input })) });
 * ```
 */
export function crashable<T extends AnyActorLogic>(logic: T): T {
  // Object.create keeps every method of the original (machines are class instances whose
  // methods use `this`) and overrides only `transition`.
  const wrapped = Object.create(logic) as T;
  const transition = logic.transition;
  Object.defineProperty(wrapped, 'transition', {
    value(this: T, ...args: Parameters<T['transition']>) {
      if (isCrashEvent(args[1])) throw new InjectedCrash(args[1].reason);
      return transition.apply(this, args);
    },
  });
  return wrapped;
}

export interface ActorChildOptions {
  /** Describes the actor for the state dump; the default names the machine's state value or the status. */
  describe?: (snapshot: Snapshot<unknown>) => ChildDescription;
}

function defaultDescribe(snapshot: Snapshot<unknown>): ChildDescription {
  const value = (snapshot as { value?: unknown }).value;
  if (typeof value === 'string') return { state: value };
  if (value !== undefined && value !== null) return { state: JSON.stringify(value) };
  return { state: snapshot.status };
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Wraps an XState v5 actor as a supervised `Child`, and starts it if it is not started yet.
 * An error snapshot is a crash (reason: the error's message); a `done` snapshot, or a stop the
 * supervisor did not ask for, is a normal exit.
 *
 * Observers that other code adds to the actor should have an `error` callback: XState rethrows
 * an actor's error globally when any observer lacks one.
 */
export function actorChild(actor: AnyActorRef, options: ActorChildOptions = {}): Child {
  const describe = options.describe ?? defaultDescribe;
  let exit: ChildExit | undefined;
  let listener: ((exit: ChildExit) => void) | undefined;
  let stopping = false;

  const end = (value: ChildExit): void => {
    if (exit) return;
    exit = value;
    listener?.(value);
  };

  actor.subscribe({
    error: (error: unknown) => end({ kind: 'crash', reason: reasonOf(error), error }),
    // `complete` follows both a done snapshot and a stop.
    complete: () => end({ kind: 'normal' }),
  });
  actor.start();

  return {
    onExit(cb) {
      listener = cb;
      if (exit) cb(exit);
    },
    stop() {
      if (exit || stopping) return;
      stopping = true;
      actor.stop();
    },
    kill(reason) {
      if (exit) return;
      actor.send({ type: CRASH_EVENT, reason } satisfies CrashEvent);
      // Still alive: the logic ignores `$crash` (or we are inside its own turn and the event
      // is queued). Either way the supervisor must see a crash, not a polite stop.
      if (!exit && actor.getSnapshot().status === 'active') {
        const error = new InjectedCrash(reason);
        end({ kind: 'crash', reason, error });
        actor.stop();
      }
    },
    describe() {
      return describe(actor.getSnapshot() as Snapshot<unknown>);
    },
  };
}
