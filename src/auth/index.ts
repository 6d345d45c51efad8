/**
 * Capability tokens: mint, attenuate, verify; the key ring by KID; the verification cache.
 * Token format and chain: see token.ts. Never log a token or a key: use `tokenFingerprint`.
 */
export { ANY_TENANT, OPS, parseCaveat, encodeCaveat, topicMatches } from './caveats.ts';
export type { Op, Caveat, UnknownCaveat, TopicMatcher } from './caveats.ts';
export { TOKEN_PREFIX } from './token.ts';
export { KeyRing, generateKey, MIN_SECRET_BYTES } from './keyring.ts';
export type { KeyInfo } from './keyring.ts';
export { mint, attenuate, inspect, tokenFingerprint } from './mint.ts';
export type { MintOptions, TokenInfo } from './mint.ts';
export { Capability, verify } from './verify.ts';
export type { CapabilityFields } from './verify.ts';
export { DenyList, parseTokenRef } from './deny-list.ts';
export type { Revocation } from './deny-list.ts';
export { VerificationCache } from './cache.ts';
export type { VerificationCacheOptions, VerificationCacheStats } from './cache.ts';
