/**
 * A batch call across shards: group the items by the shard that owns each, send one request
 * per shard (concurrently), and put every outcome back at its item's index. An item that
 * fails its own checks keeps its error in its slot; a shard that fails fails only its items.
 */
import { MailboxError, toMailboxError } from '../errors.ts';
import type { ShardRef } from '../../actors/shard-ref.ts';

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
