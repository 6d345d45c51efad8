/** Shared fixtures for the protocol tests. */
import assert from 'node:assert/strict';
import { MailboxError, type ErrorCode } from '../../src/errors.ts';
import type { TenantId } from '../../src/domain/types.ts';

export const TENANT = '0123456789abcdef0123456789abcdef' as TenantId;
export const MSG_ID = '01HGW2N7EHJVGFVK9Q5MZ3T3YB';

/** Asserts that `fn` throws a MailboxError with `code` (and a message matching `pattern`, if given). */
export function throwsCode(fn: () => unknown, code: ErrorCode, pattern?: RegExp): MailboxError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MailboxError, `expected a MailboxError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}
