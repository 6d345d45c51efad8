/**
 * Write coalescing for either end of an OAP/1 connection: the first frame written in a tick
 * corks the TCP socket under the WebSocket, and the socket is uncorked on the next tick, so
 * every frame of the tick (replies, DELIVER events, acks) leaves in one writev instead of one
 * syscall each.
 */
interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

const corked = new WeakSet<object>();

/** `ws` is a `ws` WebSocket; its TCP socket is the (internal but stable) `_socket`. */
export function corkForTick(ws: object): void {
  const socket = (ws as { _socket?: CorkableSocket })._socket;
  if (!socket || corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    if (!corked.delete(socket)) return; // already pushed out by uncorkNow
    socket.uncork();
  });
}

/**
 * Writes what the tick has corked on `ws` now instead of on the next tick (a full batch that
 * the peer can start on). Frames written later in the tick cork the socket again.
 */
export function uncorkNow(ws: object): void {
  const socket = (ws as { _socket?: CorkableSocket })._socket;
  if (!socket || !corked.delete(socket)) return;
  socket.uncork();
}
