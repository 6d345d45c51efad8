/**
 * What the format-3 LevelDB store keeps in RAM per shard, so the hot path writes one record
 * per message: the topic table (tenant+topic ↔ interned id), the attempt records (messages
 * that failed or wait, bounded like format 2's held range), and the delivery table: which
 * delivery record (`l/<seq>`) each leased msgId belongs to and how many members each record
 * still has. Built from `n/`, `a/` and `l/` at open; changed as commits are submitted.
 */
import type { MsgId, ShardIndex, TenantId, Topic } from '../domain/types.ts';
import { topicSlot } from './keys.ts';
import type { AttemptState, LeaseMember } from './record-codec.ts';

/** msgId → topic id of messages recently written or paged (payload reads need the topic part of the key). */
const RECENT_CAP = 65_536;

export interface TopicEntry {
  tid: number;
  tenant: TenantId;
  topic: Topic;
  /** False until a batch carrying its `n/` record succeeded: until then every commit using it writes it again. */
  durable: boolean;
}

export interface Membership {
  seq: number;
  member: LeaseMember;
}

export class ShardRam {
  readonly topicsBySlot = new Map<string, TopicEntry>();
  readonly topicsById = new Map<number, TopicEntry>();
  private nextTid = 1;
  readonly attempts = new Map<MsgId, AttemptState>();
  readonly members = new Map<MsgId, Membership>();
  /** Delivery record seq → members still leased. */
  readonly remaining = new Map<number, number>();
  nextSeq = 1;
  private readonly recent = new Map<MsgId, number>();

  constructor(readonly shard: ShardIndex) {}

  /** The topic's entry, interning a new id when `create` (its `n/` record is then due). */
  topic(tenant: TenantId, topic: Topic, create: true): TopicEntry;
  topic(tenant: TenantId, topic: Topic, create: false): TopicEntry | undefined;
  topic(tenant: TenantId, topic: Topic, create: boolean): TopicEntry | undefined {
    const slot = topicSlot(tenant, topic);
    let entry = this.topicsBySlot.get(slot);
    if (entry === undefined && create) {
      entry = { tid: this.nextTid++, tenant, topic, durable: false };
      this.topicsBySlot.set(slot, entry);
      this.topicsById.set(entry.tid, entry);
    }
    return entry;
  }

  /** A topic read back from `n/`. */
  loadTopic(tid: number, tenant: TenantId, topic: Topic): void {
    const entry: TopicEntry = { tid, tenant, topic, durable: true };
    this.topicsBySlot.set(topicSlot(tenant, topic), entry);
    this.topicsById.set(tid, entry);
    if (tid >= this.nextTid) this.nextTid = tid + 1;
  }

  remember(msgId: MsgId, tid: number): void {
    if (this.recent.size >= RECENT_CAP) this.recent.delete(this.recent.keys().next().value!);
    this.recent.set(msgId, tid);
  }

  forget(msgId: MsgId): void {
    this.recent.delete(msgId);
  }

  /** The topic id of a message this store knows of, or undefined (the caller then looks in every topic). */
  tidOf(msgId: MsgId): number | undefined {
    return this.members.get(msgId)?.member.tid ?? this.attempts.get(msgId)?.tid ?? this.recent.get(msgId);
  }

  /** A new delivery record's sequence number; its members join with {@link join}. */
  takeSeq(): number {
    return this.nextSeq++;
  }

  join(seq: number, member: LeaseMember): void {
    this.members.set(member.msgId, { seq, member });
    this.remaining.set(seq, (this.remaining.get(seq) ?? 0) + 1);
  }

  /** `msgId` left leased state: the seq of its delivery record when it was that record's last member. */
  leave(msgId: MsgId): number | undefined {
    const m = this.members.get(msgId);
    if (m === undefined) return undefined;
    this.members.delete(msgId);
    const left = (this.remaining.get(m.seq) ?? 1) - 1;
    if (left > 0) {
      this.remaining.set(m.seq, left);
      return undefined;
    }
    this.remaining.delete(m.seq);
    return m.seq;
  }

  /** Drops every lease and attempt (before a reload from disk); the topic table stays (ids never change). */
  clearVolatile(): void {
    this.attempts.clear();
    this.members.clear();
    this.remaining.clear();
    this.recent.clear();
  }
}
