import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corkForTick, uncorkNow } from '../../src/protocol/cork.ts';

/** A stand-in for ws's TCP socket that counts cork depth, as a Writable does. */
function fakeWs(): { ws: object; socket: { depth: number; uncorks: number } } {
  const socket = {
    depth: 0,
    uncorks: 0,
    cork(): void {
      this.depth++;
    },
    uncork(): void {
      this.uncorks++;
      if (this.depth > 0) this.depth--;
    },
  };
  return { ws: { _socket: socket }, socket };
}

const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

test('corkForTick corks once per tick and uncorks on the next tick', async () => {
  const { ws, socket } = fakeWs();
  corkForTick(ws);
  corkForTick(ws);
  assert.equal(socket.depth, 1);
  await nextTick();
  assert.equal(socket.depth, 0);
  assert.equal(socket.uncorks, 1);
});

test('uncorkNow writes out what the tick corked; a later frame of the tick corks again, and the tick ends uncorked', async () => {
  const { ws, socket } = fakeWs();
  corkForTick(ws);
  uncorkNow(ws);
  assert.equal(socket.depth, 0, 'pushed out before the tick ends');
  uncorkNow(ws);
  assert.equal(socket.uncorks, 1, 'a second uncorkNow has nothing to push');
  corkForTick(ws);
  assert.equal(socket.depth, 1, 'frames after it are coalesced again');
  await nextTick();
  await nextTick();
  assert.equal(socket.depth, 0);
  assert.equal(socket.uncorks, 2, 'one uncork per cork, none left over for the second tick callback');
});
