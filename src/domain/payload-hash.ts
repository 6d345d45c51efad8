/** The payload hash every message carries: hex SHA-256 (the wire's `payloadHash`). */
import { createHash } from 'node:crypto';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
