/**
 * A batch call across shards: group the items by the shard that owns each, send one request
 * per shard (concurrently), and put every outcome back at its item's index. An item that
 * fails its own checks keeps its error in its slot; a shard that fails fails only its items.
 */
import { MailboxError, toMailboxError } from '../errors.ts';
import type { ShardRef } from '../../actors/shard-ref.ts';

export async function scatter<I, T, O>(
  inputs: readonly I[],
  route: (input: I) => { ref: ShardRef; item: T },
  request: (ref: ShardRef, items: T[]) => Promise<O[]>,
): Promise<Array<O | MailboxError>> {
  const results = new Array<O | MailboxError>(inputs.length);
  const byShard = new Map<ShardRef, { items: T[]; slots: number[] }>();
  inputs.forEach((input, i) => {
    try {
      const { ref, item } = route(input);
      let group = byShard.get(ref);
      if (!group) byShard.set(ref, (group = { items: [], slots: [] }));
      group.items.push(item);
      group.slots.push(i);
    } catch (err) {
      results[i] = toMailboxError(err);
    }
  });
  await Promise.all(
    [...byShard].map(async ([ref, group]) => {
      let outcomes: Array<O | MailboxError>;
      try {
        outcomes = await request(ref, group.items);
      } catch (err) {
        outcomes = group.items.map(() => toMailboxError(err));
      }
      outcomes.forEach((o, j) => (results[group.slots[j]!] = o));
    }),
  );
  return results;
}
