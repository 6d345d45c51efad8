/**
 * What a supervisor tells the runtime, so it can publish bus events (`ShardUp`, `ShardCrashed`)
 * and count `service_restarts_total{actor}`. `path` is always the child's full path.
 */
import type { TreeNode } from '../src/runtime/api.ts';

interface ChildEventBase {
  /** The reporting supervisor's path, e.g. "/root/shards". */
  supervisor: string;
  /** The child's path, e.g. "/root/shards/shard-3". */
  path: string;
  id: string;
  kind: TreeNode['kind'];
}

export type SupervisorEvent =
  /** Every successful start, first or restart; `restarts` is the child's total so far. */
  | (ChildEventBase & { type: 'childStarted'; restarts: number })
  /** A start that was a restart (after `childStarted` of the same instance). */
  | (ChildEventBase & { type: 'childRestarted'; restarts: number })
  /**
   * A crash. `restarts` counts restarts before this crash; `delayMs` is set when a restart
   * is scheduled (absent for temporary children and when the supervisor escalates).
   */
  | (ChildEventBase & { type: 'childCrashed'; reason: string; error?: unknown; restarts: number; willRestart: boolean; delayMs?: number })
  /** A clean exit; never restarted. */
  | (ChildEventBase & { type: 'childExited' })
  /** `stop()` of a child threw or rejected; the child is treated as stopped. */
  | (ChildEventBase & { type: 'childStopFailed'; error: unknown })
  /** The supervisor gave up: too many restarts within the period. */
  | { type: 'escalated'; supervisor: string; reason: string };

export type SupervisorEventType = SupervisorEvent['type'];

export interface EscalationEvent {
  /** The escalating supervisor's path. */
  path: string;
  reason: string;
}
