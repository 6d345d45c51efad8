/**
 * What a chaos workload saw, per message: which idemKey got which msgId, every delivery,
 * and the moment an ACK of it succeeded. The checks at the end of a drill read only this
 * and the mailbox's own DLQ and state dump.
 */
import type { Delivery, DlqEntry, MsgId } from '../src/index.ts';
import type { WireDlqEntry } from '../src/protocol/index.ts';

export interface LedgerCounts {
  accepted: number;
  deliveries: number;
  /** Deliveries beyond the first of each message (at-least-once redeliveries). */
  duplicates: number;
  acked: number;
  staleLeases: number;
  /** A delivery observed after an ACK of that message had succeeded (must stay 0). */
  afterAck: number;
  /** The same idemKey answered with two different msgIds (must stay 0). */
  idemMismatches: number;
}

export class Ledger {
  /** idemKey → msgId, as the mailbox answered. */
  readonly byKey = new Map<string, MsgId>();
  /** Deliveries per msgId. */
  readonly delivered = new Map<MsgId, number>();
  /** msgId → leaseId of the ACK that succeeded first. */
  readonly acked = new Map<MsgId, string>();
  /** msgId → attempt of that ACK, when the caller knew it. */
  private readonly ackedAttempt = new Map<MsgId, number>();
  readonly afterAckSamples: string[] = [];
  deliveries = 0;
  staleLeases = 0;
  afterAck = 0;
  idemMismatches = 0;

  accepted(idemKey: string, msgId: MsgId): void {
    const known = this.byKey.get(idemKey);
    if (known === undefined) this.byKey.set(idemKey, msgId);
    else if (known !== msgId) this.idemMismatches++;
  }

  /** Call when a delivery reaches the consumer (RECV answer or push; embedded or over the SDK). */
  delivery(d: Pick<Delivery, 'msgId' | 'attempt' | 'leaseId'>): void {
    this.deliveries++;
    this.delivered.set(d.msgId, (this.delivered.get(d.msgId) ?? 0) + 1);
    // Reports from several consumer processes can arrive out of order: an older attempt's
    // delivery reported after a newer attempt's ACK is not a delivery after the ACK.
    const ackedAt = this.ackedAttempt.get(d.msgId);
    if (this.acked.has(d.msgId) && (ackedAt === undefined || d.attempt > ackedAt)) {
      this.afterAck++;
      if (this.afterAckSamples.length < 5) this.afterAckSamples.push(`${d.msgId} attempt ${d.attempt} lease ${d.leaseId} (acked ${this.acked.get(d.msgId)})`);
    }
  }

  /** Call when an ACK resolved successfully. */
  ackSucceeded(msgId: MsgId, leaseId: string, attempt?: number): void {
    if (this.acked.has(msgId)) return;
    this.acked.set(msgId, leaseId);
    if (attempt !== undefined) this.ackedAttempt.set(msgId, attempt);
  }

  counts(): LedgerCounts {
    return {
      accepted: this.byKey.size,
      deliveries: this.deliveries,
      duplicates: this.deliveries - this.delivered.size,
      acked: this.acked.size,
      staleLeases: this.staleLeases,
      afterAck: this.afterAck,
      idemMismatches: this.idemMismatches,
    };
  }

  /**
   * The end-of-run accounting against the DLQ's entries: accepted messages neither acked nor
   * dead-lettered are lost; delivered msgIds nobody was told about mean a SEND was duplicated.
   */
  reconcile(dlq: ReadonlyArray<DlqEntry | WireDlqEntry>, maxAttempts: number): { lost: MsgId[]; orphans: MsgId[]; badDlq: string[]; ackedDead: MsgId[] } {
    const dead = new Set<MsgId>();
    const badDlq: string[] = [];
    for (const e of dlq) {
      // An entry read over the wire (SDK) is flat; the embedded API's nests the message's meta.
      const m = 'meta' in e ? e.meta : e;
      dead.add(m.msgId);
      if (!e.reason) badDlq.push(`${m.msgId}: no reason`);
      if (m.history.length !== m.attempt) badDlq.push(`${m.msgId}: history ${m.history.length} vs attempt ${m.attempt}`);
      if (m.attempt !== maxAttempts) badDlq.push(`${m.msgId}: dead after ${m.attempt} attempts, max is ${maxAttempts}`);
    }
    const known = new Set(this.byKey.values());
    const lost = [...known].filter((id) => !this.acked.has(id) && !dead.has(id));
    const orphans = [...this.delivered.keys()].filter((id) => !known.has(id));
    // An ACK reported successful for a message that sits in the DLQ would be delivered again on reprocess.
    const ackedDead = [...dead].filter((id) => this.acked.has(id));
    return { lost, orphans, badDlq, ackedDead };
  }
}
