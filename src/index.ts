/**
 * svc-mailbox, embedded: `createMailbox(config)` runs the whole runtime in-process.
 *
 * @example
 * ```ts
 * import { createMailbox, defineConfig } from 'svc-mailbox';
 * const mb = await createMailbox(defineConfig({ amnesia: true, shards: 8 }));
 * const { msgId } = await mb.send({ topic: 'user:42:inbox', idemKey: 'k1', payload: bytes });
 * const [d] = await mb.recv({ topic: 'user:42:inbox', visibilityMs: 5000, maxMessages: 1 });
 * await mb.ack(d.msgId, d.leaseId);
 * ```
 */
export { createMailbox, type RuntimeOptions } from './runtime/create-mailbox.ts';
export type { MailboxRuntime } from './runtime/mailbox.ts';
export { defineConfig, DEFAULT_CONFIG } from './config/config.ts';
export type { MailboxConfig, DeepPartial, Durability, Profile } from './config/config.ts';
export { resolveConfig } from './config/resolve.ts';
export { loadConfig } from './config/load.ts';
export { MailboxError, isErrorCode, ERROR_CODES, type ErrorCode } from './errors.ts';
export type {
  Mailbox, Session, SessionOptions, SendInput, SendResult, RecvInput, NackOptions, SubscribeInput,
  DlqApi, DlqListInput, DlqReprocessInput, ReadinessReport, ReadinessState, TreeNode,
} from './runtime/api.ts';
export type { Delivery, DlqEntry, MsgId, LeaseId, Topic, TenantId, Attrs, AttemptRecord, AttemptOutcome } from './domain/types.ts';
