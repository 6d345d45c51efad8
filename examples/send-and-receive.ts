/**
 * Send a few messages, lease them with RECV, ack them.
 *
 *   npm start                                        # in another terminal
 *   npx tsx examples/send-and-receive.ts
 *
 * clientTarget() finds the server and the token as the CLI does: MAILBOX_URL, else `listen` of
 * the configuration (mailbox.config.ts here, RON_CONFIG, MAILBOX_* variables); MAILBOX_TOKEN,
 * else the file MAILBOX_TOKEN_FILE names, else <dataDir>/admin.token (written by the server on
 * its first start). Right after `npm start` that is ws://127.0.0.1:9410 and
 * ./var/mailbox/admin.token.
 */
import { MailboxClient, MailboxError } from 'svc-mailbox/client';
import { clientTarget } from 'svc-mailbox/target';

// Where the server is and which token to use, found the way the `mailbox` command finds them.
const { url, token } = await clientTarget();
const client = await MailboxClient.connect(url, { token });

const topic = 'examples:inbox';
const run = Date.now().toString(36); // idemKeys unique per run, so each run sends new messages

// Sends made in the same tick travel together as one SEND_BATCH frame; each promise still
// gets its own result. A send resolves once the message is durable.
const sent = await Promise.all(
  [1, 2, 3].map((i) => client.send({ topic, idemKey: `${run}-${i}`, payload: `hello #${i}`, attrs: { contentType: 'text/plain' } })),
);
for (const { msgId } of sent) console.log('sent', msgId);

// The same idemKey again (within the server's replay window) is not a new message.
const again = await client.send({ topic, idemKey: `${run}-1`, payload: 'hello #1' });
console.log('resent', again.msgId, 'duplicate:', again.duplicate);

// Lease up to 32 messages for 5 s, waiting up to 1 s for the first one.
const batch = await client.recv({ topic, visibilityMs: 5000, maxMessages: 32, waitMs: 1000 });
for (const d of batch) console.log('got', d.msgId, `attempt ${d.attempt}`, Buffer.from(d.payload).toString('utf8'));

// Acks of one tick share one ACK_BATCH frame. An unacked message comes back after its lease.
await Promise.all(batch.map((d) => d.ack()));
console.log(`acked ${batch.length}`);

try {
  await client.send({ topic: '', idemKey: 'x', payload: 'refused before it leaves the client' });
} catch (err) {
  // Errors are MailboxError with a stable code: branch on `code`, never on the message.
  if (err instanceof MailboxError) console.log('refused:', err.code, err.message);
}

await client.close();
