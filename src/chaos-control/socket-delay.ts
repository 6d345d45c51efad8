/**
 * The socket side of the latency fault (`chaos inject --fault=latency --target=socket`): while
 * `delayMs` > 0 every WebSocket write of the server waits that long before it is sent, in order
 * per connection (a write never overtakes one held before it, also once the fault ends).
 * Process-wide, like the fault itself; connection.ts asks `holdWrite` before each write.
 */
export const socketWrites = { delayMs: 0, held: 0 };

interface Tail {
  pending: number;
  last: Promise<void>;
}

const tails = new WeakMap<object, Tail>();

/** Whether a write of `owner` must go through `holdWrite`: a fault is armed, or earlier writes of it are still held. */
export function writesHeld(owner: object): boolean {
  return socketWrites.delayMs > 0 || (socketWrites.held > 0 && tails.has(owner));
}

/** Sends `send` after the fault's delay, behind the owner's earlier held writes. */
export function holdWrite(owner: object, send: () => void): void {
  const tail = tails.get(owner);
  const t = tail ?? { pending: 0, last: Promise.resolve() };
  if (!tail) tails.set(owner, t);
  const at = performance.now() + socketWrites.delayMs;
  t.pending++;
  socketWrites.held++;
  t.last = t.last.then(() => new Promise<void>((resolve) => {
    const ms = at - performance.now();
    if (ms <= 0) return resolve();
    setTimeout(resolve, ms).unref();
  })).then(() => {
    t.pending--;
    socketWrites.held--;
    if (t.pending === 0) tails.delete(owner);
    send();
  });
}
