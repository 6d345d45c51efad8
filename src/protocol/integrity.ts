/**
 * Payload integrity: every delivery carries `payloadHash`, the lower-case hex SHA-256 of
 * its payload bytes, fixed when the message was accepted.
 */
import { createHash } from 'node:crypto';
import { MailboxError } from '../errors.ts';

/** Lower-case hex SHA-256 of `bytes`. */
export function hashPayload(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws E_INTEGRITY when `payload` does not hash to `payloadHash`. */
export function verifyPayload(delivery: { msgId?: string; payload: Uint8Array; payloadHash: string }): void {
  const actual = hashPayload(delivery.payload);
  if (actual !== delivery.payloadHash) {
    throw new MailboxError(
      'E_INTEGRITY',
      `payload of ${delivery.msgId ?? 'message'} hashes to ${actual}, expected ${delivery.payloadHash}`,
    );
  }
}
