/**
 * Payload integrity: every delivery carries `payloadHash`, the lower-case hex SHA-256 of
 * its payload bytes, fixed when the message was accepted.
 */
import { MailboxError } from '../errors.ts';
import { sha256Hex } from '../domain/payload-hash.ts';

/** Lower-case hex SHA-256 of `bytes` (the one implementation, shared with the server). */
export const hashPayload: (bytes: Uint8Array) => string = sha256Hex;

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
