/**
 * Capability token wire format and HMAC chain (macaroon style).
 *
 * A token is the text `mbx1.` followed by the unpadded base64url of these bytes:
 *
 *   u8      version = 1
 *   16 B    token id (random)
 *   u8      KID length n (1..64), then n bytes of KID (ASCII `[A-Za-z0-9._-]`)
 *   u8      caveat count c (0..64)
 *   c ×     u16 big-endian length m (1..1024), then m bytes of caveat text `kind=value` (UTF-8)
 *   32 B    signature: the last link of the chain
 *
 * and nothing after it; 4096 bytes at most in all (MAX_TOKEN_BYTES). The chain:
 *
 *   sig0 = HMAC-SHA256(rootKey[KID], "mbx1\0" ‖ tokenId ‖ KID)
 *   sig_i = HMAC-SHA256(sig_{i-1}, caveatText_i)
 *
 * sig0 binds the KID as well as the id, so a token cannot be moved to another key even where
 * two KIDs hold the same secret. Whoever holds a token can append a caveat and re-chain from
 * its signature (attenuate) without the root key; nobody can remove one, because that needs
 * an earlier link of the chain. Decoding is canonical: text that does not re-encode to exactly
 * the same characters is refused, so no two strings name one token and no byte can be changed
 * without the change being seen.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { MailboxError } from '../errors.ts';
import { MAX_CAVEAT_BYTES } from './caveats.ts';

export const TOKEN_PREFIX = 'mbx1.';
const VERSION = 1;
export const TOKEN_ID_BYTES = 16;
export const SIG_BYTES = 32;
export const MAX_KID_BYTES = 64;
export const MAX_CAVEATS = 64;
/** Largest token in bytes before base64url (the text is at most 5 + 5462 characters). */
export const MAX_TOKEN_BYTES = 4096;
const MAX_TOKEN_CHARS = TOKEN_PREFIX.length + Math.ceil((MAX_TOKEN_BYTES * 4) / 3);
const CHAIN_DOMAIN = Buffer.from('mbx1\0', 'latin1');
const KID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** A token taken apart; the signature is not checked here. */
export interface RawToken {
  tokenId: Buffer;
  kid: string;
  /** Caveat texts in chain order. */
  caveats: string[];
  sig: Buffer;
}

export function isValidKid(kid: string): boolean {
  return KID_RE.test(kid);
}

export function newTokenId(): Buffer {
  return randomBytes(TOKEN_ID_BYTES);
}

/** The first link: binds token id and KID to the root key. */
export function rootSignature(rootKey: Uint8Array, tokenId: Uint8Array, kid: string): Buffer {
  return createHmac('sha256', rootKey).update(CHAIN_DOMAIN).update(tokenId).update(kid, 'latin1').digest();
}

/** One more link: what attenuation computes from the current signature. */
export function extendSignature(sig: Uint8Array, caveatText: string): Buffer {
  return createHmac('sha256', sig).update(caveatText, 'utf8').digest();
}

/** The whole chain from the root key; the server's recomputation. */
export function chainSignature(rootKey: Uint8Array, tokenId: Uint8Array, kid: string, caveats: readonly string[]): Buffer {
  let sig = rootSignature(rootKey, tokenId, kid);
  for (const caveat of caveats) sig = extendSignature(sig, caveat);
  return sig;
}

/**
 * Bytes → `mbx1.…`. Throws MailboxError `E_SCHEMA` when the token would hold too many caveats
 * or bytes (a caller can reach that by attenuating), RangeError for other out-of-bound fields.
 */
export function encodeToken(raw: RawToken): string {
  if (raw.tokenId.length !== TOKEN_ID_BYTES) throw new RangeError('token id must be 16 bytes');
  if (!isValidKid(raw.kid)) throw new RangeError('KID must be 1-64 characters of [A-Za-z0-9._-]');
  if (raw.caveats.length > MAX_CAVEATS) throw new MailboxError('E_SCHEMA', `a token holds at most ${MAX_CAVEATS} caveats`);
  if (raw.sig.length !== SIG_BYTES) throw new RangeError('signature must be 32 bytes');
  const parts: Buffer[] = [Buffer.of(VERSION), raw.tokenId, Buffer.of(raw.kid.length), Buffer.from(raw.kid, 'latin1'), Buffer.of(raw.caveats.length)];
  for (const caveat of raw.caveats) {
    const bytes = Buffer.from(caveat, 'utf8');
    if (bytes.length === 0 || bytes.length > MAX_CAVEAT_BYTES) throw new RangeError(`a caveat is 1-${MAX_CAVEAT_BYTES} bytes`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(bytes.length);
    parts.push(len, bytes);
  }
  parts.push(raw.sig);
  const bytes = Buffer.concat(parts);
  if (bytes.length > MAX_TOKEN_BYTES) throw new MailboxError('E_SCHEMA', `a token holds at most ${MAX_TOKEN_BYTES} bytes`);
  return TOKEN_PREFIX + bytes.toString('base64url');
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;
// fatal + ignoreBOM: decoding then re-encoding gives back exactly the signed bytes.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** `mbx1.…` → fields, or undefined when the text is not exactly one well-formed token. */
export function decodeToken(token: string): RawToken | undefined {
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX) || token.length > MAX_TOKEN_CHARS) return undefined;
  const body = token.slice(TOKEN_PREFIX.length);
  if (!B64URL_RE.test(body)) return undefined;
  const bytes = Buffer.from(body, 'base64url');
  // Node's decoder forgives stray bits in the last character; insist on the one canonical spelling.
  if (bytes.toString('base64url') !== body) return undefined;

  let at = 0;
  const need = (n: number): boolean => at + n <= bytes.length;
  if (!need(1 + TOKEN_ID_BYTES + 1) || bytes[at++] !== VERSION) return undefined;
  const tokenId = Buffer.from(bytes.subarray(at, at + TOKEN_ID_BYTES));
  at += TOKEN_ID_BYTES;
  const kidLen = bytes[at++]!;
  if (kidLen === 0 || kidLen > MAX_KID_BYTES || !need(kidLen + 1)) return undefined;
  const kid = bytes.subarray(at, at + kidLen).toString('latin1');
  at += kidLen;
  if (!isValidKid(kid)) return undefined;
  const count = bytes[at++]!;
  if (count > MAX_CAVEATS) return undefined;
  const caveats: string[] = [];
  for (let i = 0; i < count; i++) {
    if (!need(2)) return undefined;
    const len = bytes.readUInt16BE(at);
    at += 2;
    if (len === 0 || len > MAX_CAVEAT_BYTES || !need(len)) return undefined;
    try {
      caveats.push(utf8.decode(bytes.subarray(at, at + len)));
    } catch {
      return undefined;
    }
    at += len;
  }
  if (at + SIG_BYTES !== bytes.length) return undefined;
  const sig = Buffer.from(bytes.subarray(at));
  return { tokenId, kid, caveats, sig };
}
