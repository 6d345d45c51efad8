/**
 * A batch call across shards: group the items by the shard that owns each, send one request
 * per shard (concurrently), and put every outcome back at its item's index. An item that
 * fails its own checks keeps its error in its slot; a shard that fails fails only its items.
 */
import { MailboxError, toMailboxError } from '../errors.ts';
import { ShardReply, type ShardRef } from '../../actors/shard-ref.ts';

interface Group<T> {
  items: T[];
  slots: number[];
}

/**
 * `prepare` checks an input and makes the item a shard gets; `shardOf` names that shard. Either
 * may throw, which fails that item alone.
 */
export async function scatter<I, T, O>(
  inputs: readonly I[],
  prepare: (input: I) => T,
  shardOf: (item: T) => ShardRef,
  request: (ref: ShardRef, items: T[]) => Promise<O[]>,
): Promise<Array<O | MailboxError>> {
  const results = new Array<O | MailboxError>(inputs.length);
  // Most batches (and every single SEND or ACK) land on one shard: no map until a second one shows up.
  let firstRef: ShardRef | undefined;
  let first: Group<T> | undefined;
  let others: Map<ShardRef, Group<T>> | undefined;
  for (let i = 0; i < inputs.length; i++) {
    let item: T;
    let ref: ShardRef;
    try {
      item = prepare(inputs[i]!);
      ref = shardOf(item);
    } catch (err) {
      results[i] = toMailboxError(err);
      continue;
    }
    let group: Group<T> | undefined;
    if (first === undefined) {
      firstRef = ref;
      group = first = { items: [], slots: [] };
    } else if (ref === firstRef) {
      group = first;
    } else {
      others ??= new Map();
      group = others.get(ref);
      if (!group) others.set(ref, (group = { items: [], slots: [] }));
    }
    group.items.push(item);
    group.slots.push(i);
  }
  const settle = async (ref: ShardRef, group: Group<T>): Promise<void> => {
    let outcomes: Array<O | MailboxError>;
    try {
      outcomes = await request(ref, group.items);
    } catch (err) {
      outcomes = group.items.map(() => toMailboxError(err));
    }
    for (let j = 0; j < outcomes.length; j++) results[group.slots[j]!] = outcomes[j]!;
  };
  if (first !== undefined) {
    if (others === undefined) await settle(firstRef!, first);
    else await Promise.all([settle(firstRef!, first), ...[...others].map(([ref, group]) => settle(ref, group))]);
  }
  return results;
}

/**
 * The wire path's scatter: no promises. `shardOf` may throw, which fails that item alone;
 * `submit` sends one request per shard with the reply given; `done` hears every outcome at
 * its item's index once all shards answered. A batch that lands on one shard whole (every
 * single SEND or ACK, most batches) passes the shard's outcomes through as they are.
 */
export function scatterTo<T, O>(
  items: T[],
  shardOf: (item: T) => ShardRef,
  submit: (ref: ShardRef, items: T[], reply: ShardReply<O[]>) => void,
  done: (outcomes: Array<O | MailboxError>) => void,
): void {
  const n = items.length;
  if (n === 0) return done([]);
  let firstRef: ShardRef | undefined;
  // Each item's shard, or why it has none; only made once a second shard or a failure shows up.
  let refs: Array<ShardRef | MailboxError> | undefined;
  for (let i = 0; i < n; i++) {
    let ref: ShardRef | MailboxError;
    try {
      ref = shardOf(items[i]!);
    } catch (err) {
      ref = toMailboxError(err);
    }
    if (refs !== undefined) refs[i] = ref;
    else if (firstRef === undefined && !(ref instanceof MailboxError)) firstRef = ref;
    else if (ref !== firstRef) {
      refs = new Array<ShardRef | MailboxError>(n);
      for (let k = 0; k < i; k++) refs[k] = firstRef!;
      refs[i] = ref;
    }
  }
  if (refs === undefined) return submit(firstRef!, items, new WholeReply<O>(n, done));
  const gather = new Gather<O>(n, done);
  const groups = new Map<ShardRef, Group<T>>();
  for (let k = 0; k < n; k++) {
    const ref = refs[k]!;
    if (ref instanceof MailboxError) {
      gather.results[k] = ref;
      continue;
    }
    let group = groups.get(ref);
    if (!group) groups.set(ref, (group = { items: [], slots: [] }));
    group.items.push(items[k]!);
    group.slots.push(k);
  }
  gather.open = groups.size;
  if (groups.size === 0) return gather.finish();
  for (const [ref, group] of groups) submit(ref, group.items, new SlotReply<O>(gather, group.slots));
}

class WholeReply<O> extends ShardReply<O[]> {
  constructor(private readonly size: number, private readonly done: (outcomes: Array<O | MailboxError>) => void) {
    super();
  }
  protected resolved(value: O[]): void {
    this.done(value);
  }
  /** The shard failed the whole request: each of its items carries the error. */
  protected rejected(error: MailboxError): void {
    this.done(new Array<O | MailboxError>(this.size).fill(error));
  }
}

/** The outcomes of a batch split over shards, put back in order. */
class Gather<O> {
  readonly results: Array<O | MailboxError>;
  open = 0;
  constructor(n: number, private readonly done: (outcomes: Array<O | MailboxError>) => void) {
    this.results = new Array<O | MailboxError>(n);
  }
  finish(): void {
    this.done(this.results);
  }
}

class SlotReply<O> extends ShardReply<O[]> {
  constructor(private readonly gather: Gather<O>, private readonly slots: number[]) {
    super();
  }
  protected resolved(value: O[]): void {
    for (let j = 0; j < this.slots.length; j++) this.gather.results[this.slots[j]!] = value[j]!;
    if (--this.gather.open === 0) this.gather.finish();
  }
  protected rejected(error: MailboxError): void {
    for (let j = 0; j < this.slots.length; j++) this.gather.results[this.slots[j]!] = error;
    if (--this.gather.open === 0) this.gather.finish();
  }
}
