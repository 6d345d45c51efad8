/**
 * The dead-letter queue: a message that keeps failing is dead-lettered after the server's
 * `queue.maxAttempts` (default 5); it can then be listed, reprocessed or purged.
 *
 *   npm start                            # in another terminal
 *   npx tsx examples/dlq.ts
 */
import { MailboxClient } from 'svc-mailbox/client';
import { clientTarget } from 'svc-mailbox/target';

// Where the server is and which token to use, found the way the `mailbox` command finds them.
const { url, token } = await clientTarget();
const client = await MailboxClient.connect(url, { token });

const topic = 'examples:poison';
const { msgId } = await client.send({ topic, idemKey: `poison-${Date.now().toString(36)}`, payload: '{"not": "what the consumer expects"}' });
console.log('sent', msgId);

// Fail it until the server gives up on it: each NACK is one more attempt.
for (;;) {
  const [d] = await client.recv({ topic, visibilityMs: 5000, maxMessages: 1, waitMs: 1000 });
  if (d === undefined) break; // nothing ready any more: it went to the DLQ
  console.log(`attempt ${d.attempt}: nack`);
  await d.nack({ delayMs: 0, reason: 'cannot parse payload' });
}

// Page through the DLQ in ascending msgId order.
const entries = await client.dlq.list({ topic, limit: 100 });
for (const e of entries) {
  console.log(`dead: ${e.msgId} reason=${e.reason} attempts=${e.attempt}`);
  for (const h of e.history) console.log(`  attempt ${h.attempt}: ${h.outcome}${h.reason ? ` (${h.reason})` : ''}`);
}

// Put them back with attempts reset (after fixing the consumer, say)…
const back = await client.dlq.reprocess({ topic, reason: 'nacked' });
console.log('reprocessed', back);
const [again] = await client.recv({ topic, visibilityMs: 5000, maxMessages: 1, waitMs: 1000 });
if (again) {
  console.log(`redelivered ${again.msgId} as attempt ${again.attempt}`);
  await again.ack();
}

// …or drop whatever is left for this topic.
console.log('purged', await client.dlq.purge({ topic }));
await client.close();
