/**
 * svc-mailbox/client: the TypeScript SDK for a svc-mailbox server over OAP/1 (WebSocket).
 *
 * @example
 * ```ts
 * import { MailboxClient, MailboxError } from 'svc-mailbox/client';
 * const client = await MailboxClient.connect('ws://127.0.0.1:9410', { token: process.env.MAILBOX_TOKEN! });
 * const { msgId } = await client.send({ topic: 'user:42:inbox', idemKey: 'order-1001', payload: 'hello' });
 * const sub = client.subscribe({ topic: 'user:42:inbox', visibilityMs: 5000, prefetch: 256 }, async (d) => {
 *   console.log(d.msgId, Buffer.from(d.payload).toString());
 *   await d.ack();
 * });
 * // …
 * await sub.close();
 * await client.close();
 * ```
 */
export { MailboxClient } from './client.ts';
export type { DlqClient } from './dlq.ts';
export { MailboxError, isErrorCode, ERROR_CODES, type ErrorCode } from '../errors.ts';
export type {
  Attrs, ClientDelivery, ClientOptions, ClientStats, DeliveryHandler, DlqEntry, DlqFilterInput, DlqListInput, DlqReason,
  LeaseId, MsgId, NackOptions, ReconnectInfo, RecvInput, SendInput, SendResult, ServerLimits, SubscribeInput, Subscription,
} from './types.ts';
