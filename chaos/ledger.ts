/**
 * What a chaos workload saw, per message: which idemKey got which msgId, every delivery,
 * and the moment an ACK of it succeeded. The checks at the end of a drill read only this
 * and the mailbox's own DLQ and state dump.
 */
import type { Delivery, DlqEntry, MsgId } from '../src/index.ts';

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

  /** Call when a delivery reaches the consumer (RECV answer or push). */
  delivery(d: Delivery): void {
    this.deliveries++;
    this.delivered.set(d.msgId, (this.delivered.get(d.msgId) ?? 0) + 1);
    if (this.acked.has(d.msgId)) {
      this.afterAck++;
      if (this.afterAckSamples.length < 5) this.afterAckSamples.push(`${d.msgId} attempt ${d.attempt} lease ${d.leaseId} (acked ${this.acked.get(d.msgId)})`);
    }
  }

  /** Call when an ACK resolved successfully. */
  ackSucceeded(msgId: MsgId, leaseId: string): void {
    if (!this.acked.has(msgId)) this.acked.set(msgId, leaseId);
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
  reconcile(dlq: readonly DlqEntry[], maxAttempts: number): { lost: MsgId[]; orphans: MsgId[]; badDlq: string[]; ackedDead: MsgId[] } {
    const dead = new Set<MsgId>();
    const badDlq: string[] = [];
    for (const e of dlq) {
      dead.add(e.meta.msgId);
      if (!e.reason) badDlq.push(`${e.meta.msgId}: no reason`);
      if (e.meta.history.length !== e.meta.attempt) badDlq.push(`${e.meta.msgId}: history ${e.meta.history.length} vs attempt ${e.meta.attempt}`);
      if (e.meta.attempt !== maxAttempts) badDlq.push(`${e.meta.msgId}: dead after ${e.meta.attempt} attempts, max is ${maxAttempts}`);
    }
    const known = new Set(this.byKey.values());
    const lost = [...known].filter((id) => !this.acked.has(id) && !dead.has(id));
    const orphans = [...this.delivered.keys()].filter((id) => !known.has(id));
    // An ACK reported successful for a message that sits in the DLQ would be delivered again on reprocess.
    const ackedDead = [...dead].filter((id) => this.acked.has(id));
    return { lost, orphans, badDlq, ackedDead };
  }
}
