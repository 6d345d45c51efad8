/**
 * The runtime's events: what moves the readiness gate, and what operators can tail.
 * Topics without a payload carry `undefined`.
 */
// A type alias, not an interface: aliases satisfy `Record<string, unknown>` (EventBus's bound).
export type MailboxEvents = {
  /** The WebSocket listener accepts connections at `addr` ("127.0.0.1:9410"). */
  ListenerBound: { addr: string };
  ListenerClosed: undefined;
  ShardUp: { shard: number };
  ShardCrashed: { shard: number; reason: string };
  StoreUp: undefined;
  StoreDown: { reason: string };
  StorageFull: { reason: string };
  StorageRecovered: undefined;
  Overloaded: { reason: string };
  OverloadCleared: undefined;
  DrainRequested: undefined;
  Stopped: undefined;
  ConfigLoaded: undefined;
  /**
   * `mailbox keys rotate`: `kid` now signs, `previous` verifies until `graceEndsAt` (wall-clock
   * ms). Empties the verification cache. KIDs only, never key material.
   */
  'caps.rotate': { kid: string; previous: string; graceEndsAt: number };
  /** A policy reload took effect (`changes`: how many keys changed); `by`: who asked. */
  PolicyReloaded: { by: string; changes: number };
  /** A policy reload was refused; the cached policy stays. */
  PolicyReloadFailed: { by: string; reason: string };
};

export type MailboxTopic = keyof MailboxEvents;

export const MAILBOX_TOPICS: readonly MailboxTopic[] = [
  'ListenerBound',
  'ListenerClosed',
  'ShardUp',
  'ShardCrashed',
  'StoreUp',
  'StoreDown',
  'StorageFull',
  'StorageRecovered',
  'Overloaded',
  'OverloadCleared',
  'DrainRequested',
  'Stopped',
  'ConfigLoaded',
  'caps.rotate',
  'PolicyReloaded',
  'PolicyReloadFailed',
];
