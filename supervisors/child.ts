/**
 * What a supervisor needs from the things it supervises: a way to learn that a child ended
 * (and whether it crashed), a way to stop it, a way to crash it, and a description for the
 * state dump. XState actors fit through `actorChild`; a `Supervisor` is a `Child` itself.
 */
import type { TreeNode } from '../src/runtime/api.ts';

/** How a child ended. A clean exit is not a crash and is never restarted. */
export type ChildExit = { kind: 'crash'; reason: string; error?: unknown } | { kind: 'normal' };

/** What a child says about itself in the state dump. */
export interface ChildDescription {
  /** The child's own state, e.g. the machine's state value ("recovering", "serving"). */
  state: string;
  depths?: TreeNode['depths'];
  info?: TreeNode['info'];
  /**
   * Descendants, for children that supervise others. Their paths are relative to this child
   * and start with "/" (e.g. "/shard-3"); the parent prefixes its own path.
   */
  children?: TreeNode[];
}

export interface Child {
  /**
   * Registers the exit callback. Called at most once per child instance; if the child has
   * already ended when `onExit` is called, the callback runs at once.
   */
  onExit(cb: (exit: ChildExit) => void): void;
  /** Stops the child politely. The supervisor ignores any exit reported after it asked for this. */
  stop(): Promise<void> | void;
  /** Crashes the child as a real failure would: the supervisor sees `{ kind: 'crash', reason }`. */
  kill(reason: string): void;
  describe(): ChildDescription;
  /**
   * Crashes a descendant (for children that supervise others). `path` is relative to this
   * child, split into segments. Throws when no such descendant exists.
   */
  killAt?(path: readonly string[], reason: string): void;
}

/**
 * - `permanent`: restarted after every crash (shards, store, bus…).
 * - `transient`: restarted after a crash, not after a clean exit.
 * - `temporary`: never restarted (sessions); removed from the supervisor when it ends.
 *
 * A clean exit is not restarted for any of the three.
 */
export type RestartType = 'permanent' | 'transient' | 'temporary';

export interface ChildSpec {
  /** Unique among the supervisor's children; the last segment of the child's path. */
  id: string;
  kind: TreeNode['kind'];
  restart: RestartType;
  /** Starts a fresh instance. Called again for every restart; a throw counts as a crash. */
  start: () => Child | Promise<Child>;
}

export function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
