/**
 * A push subscription: the server sends deliveries while the client has credit (prefetch);
 * settling a delivery (ack / nack) gives the credit back.
 *
 *   npm start                                  # in another terminal
 *   npx tsx examples/subscribe.ts
 */
import { MailboxClient } from 'svc-mailbox/client';
import { clientTarget } from 'svc-mailbox/target';

// Where the server is and which token to use, found the way the `mailbox` command finds them.
const { url, token } = await clientTarget();
const client = await MailboxClient.connect(url, {
  token,
  // Failures that belong to no caller: integrity failures, handler errors, lost connections.
  onError: (err) => console.error('mailbox:', err.code, err.message),
  // After a reconnect the client has already re-subscribed; deliveries of the lost
  // connection can no longer be settled (E_STALE_LEASE) and will be redelivered.
  onReconnect: ({ epoch }) => console.log('reconnected, epoch', epoch),
});

const topic = 'examples:jobs';
const total = 20;
let handled = 0;
let done!: () => void;
const allHandled = new Promise<void>((resolve) => (done = resolve));

// One delivery at a time (the default `concurrency: 1`), in arrival order. Every payload
// has been checked against its SHA-256 before the handler sees it.
const sub = client.subscribe({ topic, visibilityMs: 5000, prefetch: 64 }, async (d) => {
  const text = Buffer.from(d.payload).toString('utf8');
  if (text.endsWith('#7') && d.attempt === 1) {
    // Not now: back to the queue, delivered again in 200 ms with attempt 2.
    await d.nack({ delayMs: 200, reason: 'example: try again later' });
    return;
  }
  console.log(`handled ${text} (attempt ${d.attempt})`);
  await d.ack(); // acks of one tick are coalesced into one ACK_BATCH
  if (++handled === total) done();
});
await sub.ready; // optional: resolves once the server accepted the subscription

const run = Date.now().toString(36);
await client.sendBatch(Array.from({ length: total }, (_, i) => ({ topic, idemKey: `${run}-${i}`, payload: `job #${i}` })));

await allHandled;
await sub.close(); // unsubscribes; deliveries still queued here would be NACKed right away
console.log(client.stats());
await client.close();
