import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MailboxError } from '../../src/errors.ts';
import { KeyRing, attenuate, generateKey, mint, verify, type Caveat } from '../../src/auth/index.ts';

const NOW = 1_700_000_000_000;
const ring = new KeyRing('k1', generateKey());

const caveatArb: fc.Arbitrary<Caveat> = fc.oneof(
  fc.subarray(['send', 'recv', 'ack', 'nack', 'admin'] as const, { minLength: 1 }).map((ops) => ({ kind: 'op' as const, ops })),
  fc.stringMatching(/^[a-z0-9:]{1,20}\*?$/).map((pattern) => ({ kind: 'topic' as const, pattern })),
  fc.integer({ min: NOW + 1, max: NOW + 1e9 }).map((at) => ({ kind: 'expiry' as const, at })),
  fc.integer({ min: 1, max: 10_000 }).map((perSecond) => ({ kind: 'quota' as const, perSecond })),
);

/** A valid token: minted with some caveats, then attenuated with some more. */
const tokenArb = fc
  .tuple(fc.array(caveatArb, { maxLength: 4 }), fc.array(caveatArb, { maxLength: 4 }))
  .map(([minted, added]) => added.reduce((token, caveat) => attenuate(token, caveat), mint(ring, { caveats: minted })));

function refused(token: string): boolean {
  try {
    verify(ring, token, NOW);
    return false;
  } catch (err) {
    return err instanceof MailboxError && err.code === 'E_CAP_AUTH';
  }
}

test('every generated token verifies before it is mutated', () => {
  fc.assert(fc.property(tokenArb, (token) => !refused(token)), { numRuns: 200 });
});

test('any single-byte mutation of a valid token text fails verification with E_CAP_AUTH', () => {
  fc.assert(
    fc.property(tokenArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (token, at, delta) => {
      const bytes = Buffer.from(token, 'latin1');
      const i = at % bytes.length;
      bytes[i] = (bytes[i]! + delta) & 0xff;
      const mutated = bytes.toString('latin1');
      assert.notEqual(mutated, token);
      return refused(mutated);
    }),
    { numRuns: 2_000 },
  );
});

test('any single-byte mutation of a valid token binary body fails verification with E_CAP_AUTH', () => {
  fc.assert(
    fc.property(tokenArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (token, at, delta) => {
      const bytes = Buffer.from(token.slice(5), 'base64url');
      const i = at % bytes.length;
      bytes[i] = (bytes[i]! + delta) & 0xff;
      return refused('mbx1.' + bytes.toString('base64url'));
    }),
    { numRuns: 2_000 },
  );
});
