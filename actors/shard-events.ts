/** The messages a shard actor understands. Requests carry their reply; the shard answers after commit. */
import type { MailboxError } from '../src/errors.ts';
import type { EnqueueInput, LeaseRequest, PageRead } from '../src/domain/shard-queue.ts';
import type { DedupEntry, Delivery, DlqEntry, LeaseId, MessageMeta, MsgId, SessionId, TenantId } from '../src/domain/types.ts';
import type { ShardSnapshot } from '../src/store/store.ts';

export interface Reply<T> {
  resolve(value: T): void;
  reject(error: MailboxError): void;
}

export type SendOutcome = { msgId: MsgId; duplicate: boolean } | MailboxError;
export type AckOutcome = null | MailboxError;

/** A push subscription as the shard sees it: where to deliver and how much credit is left. */
export interface ShardSubscription {
  owner: SessionId;
  subId: string;
  tenant: Delivery['tenant'];
  topic: Delivery['topic'];
  visibilityMs: number;
  /** Most open leases this subscription may hold on the topic; acks free room. */
  prefetch: number;
  deliver(deliveries: Delivery[]): void;
}

export type ShardRequest =
  | { type: 'send'; items: EnqueueInput[]; reply: Reply<SendOutcome[]> }
  | { type: 'recv'; req: LeaseRequest; waitMs: number; waited?: (ms: number) => void; reply: Reply<Delivery[]> }
  /** `tenant`: who asks. A msgId of another tenant's message is answered as one that does not exist. */
  | { type: 'ack'; tenant: TenantId; items: Array<{ msgId: MsgId; leaseId: LeaseId }>; reply: Reply<AckOutcome[]> }
  | { type: 'nack'; tenant: TenantId; msgId: MsgId; leaseId: LeaseId; delayMs?: number; reason?: string; reply: Reply<void> }
  | { type: 'extend'; tenant: TenantId; msgId: MsgId; leaseId: LeaseId; ms: number; reply: Reply<number> }
  /** DLQ reprocess for `tenant`: an entry of another tenant is refused (the DLQ actor selects by tenant). */
  | { type: 'revive'; tenant: TenantId; entries: Array<{ entry: DlqEntry; payload: Uint8Array }>; reply: Reply<number> }
  | { type: 'forgetDead'; msgIds: MsgId[]; reply: Reply<number> };

export type ShardNotice =
  | { type: 'release'; owner: SessionId }
  | { type: 'subscribe'; sub: ShardSubscription }
  | { type: 'unsubscribe'; owner: SessionId; subId: string }
  /** CREDIT widened a subscription's window: it may hold up to `prefetch` leases now. */
  | { type: 'credit'; owner: SessionId; subId: string; prefetch: number };

export type ShardInternal =
  | { type: 'loaded'; snapshot: ShardSnapshot; dead: Array<{ msgId: MsgId; tenant: TenantId }> }
  | { type: 'loadFailed'; error: unknown }
  | { type: 'committed'; batch: number }
  | { type: 'commitFailed'; batch: number; error: unknown }
  | { type: 'wake' }
  /** The last turn's delivery budget ran out with consumers still to serve: the next turn goes on. */
  | { type: 'pump' }
  /** Storage refused a batch earlier: time to try a tiny write, and its outcome. */
  | { type: 'probe' }
  /** Try the load that failed again (storage was away). */
  | { type: 'reload' }
  | { type: 'probed'; ok: boolean }
  /** Time for a retention pass (ready and delayed messages past `retention.readyMs`). */
  | { type: 'retention' }
  /**
   * Answers of the store reads a paged shard makes. `epoch` names the queue that asked: a
   * rebuilt shard ignores answers meant for the queue it replaced.
   */
  | { type: 'paged'; epoch: number; key: string; read: PageRead; metas?: MessageMeta[]; error?: unknown }
  | { type: 'retentionRead'; epoch: number; key: string; read: PageRead; metas?: MessageMeta[]; error?: unknown }
  | { type: 'dedupChecked'; epoch: number; keys: string[]; entries?: Array<DedupEntry | undefined>; error?: unknown }
  /** Time to sweep the stored idempotency records (drop expired ones, rebuild the filter), and a page of them. */
  | { type: 'sweep' }
  | { type: 'dedupScanned'; epoch: number; entries?: Array<[string, DedupEntry]>; error?: unknown }
  /** Shared mode: the answer of a Redis call, continuing its step in the actor's turn (shared-shard-core.ts). */
  | { type: 'continue'; run: () => void }
  | { type: '$crash'; reason: string };

export type ShardEvent = ShardRequest | ShardNotice | ShardInternal;
