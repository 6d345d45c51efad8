/** What sessions and the DLQ actor need from the runtime that owns them. */
import type { MailboxConfig } from '../config/config.ts';
import type { Clock } from '../domain/clock.ts';
import type { SessionId } from '../domain/types.ts';
import type { MailboxError } from '../errors.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Store } from '../store/store.ts';
import type { ShardRef } from '../../actors/shard-ref.ts';

export interface RuntimeCore {
  readonly config: MailboxConfig;
  readonly clock: Clock;
  readonly store: Store;
  readonly shards: readonly ShardRef[];
  readonly metrics: Metrics;
  /** Undefined when SENDs are accepted; otherwise why not (E_UNAVAILABLE with retry-after). */
  writeRefusal(): MailboxError | undefined;
  /** Undefined when the tenant may send `n` more; otherwise E_SATURATED with retry-after. */
  /** A SEND request's messages against the tenant's quotas (policy); a refusal is counted. */
  takeQuota(tenant: string, items: ReadonlyArray<{ payload: Uint8Array }>): MailboxError | undefined;
  /** True while the mailbox drains: RECV answers with no messages. */
  draining(): boolean;
  /** Called once when a session ends, however it ended. */
  sessionEnded(id: SessionId, reason: string): void;
}
