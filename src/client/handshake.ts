/**
 * Opening a connection: the WebSocket handshake, then HELLO (ACK_REQ, version 1). A
 * connection is handed to the client only once HELLO succeeded, with the server's limits.
 */
import { MailboxError, toMailboxError } from '../errors.ts';
import {
  MAX_BATCH, MAX_PAYLOAD, OPS, PROTOCOL_VERSION, decodeRequest, encodeBody, type HelloLimits, type ResponseMap,
} from '../protocol/index.ts';
import { Connection, type ConnectionHooks, type ConnectionParams } from './connection.ts';

export interface Handshake {
  conn: Connection;
  /** The server's limits, clamped to what OAP/1 allows. */
  limits: HelloLimits;
}

/** Rejects with E_UNAVAILABLE when the socket cannot open or HELLO times out; with the server's error when HELLO is refused. */
export async function handshake(params: ConnectionParams, hooks: ConnectionHooks, clientName: string): Promise<Handshake> {
  const conn = await Connection.open(params, hooks);
  const timer = setTimeout(
    () => conn.terminate(new MailboxError('E_UNAVAILABLE', `HELLO not answered within ${params.timeoutMs} ms`)),
    params.timeoutMs,
  );
  try {
    const hello = await new Promise<ResponseMap[typeof OPS.HELLO]>((resolve, reject) => {
      const body = encodeBody(decodeRequest(OPS.HELLO, { versions: [PROTOCOL_VERSION], client: clientName }));
      conn.request(OPS.HELLO, body, { op: OPS.HELLO, resolve: resolve as (v: unknown) => void, reject });
    });
    if (hello.version !== PROTOCOL_VERSION) {
      throw new MailboxError('E_SCHEMA', `server chose protocol version ${hello.version}; this client speaks ${PROTOCOL_VERSION}`);
    }
    const limits = {
      ...hello.limits,
      maxBatch: Math.min(hello.limits.maxBatch, MAX_BATCH),
      maxPayload: Math.min(hello.limits.maxPayload, MAX_PAYLOAD),
    };
    return { conn, limits };
  } catch (err) {
    const e = toMailboxError(err);
    conn.terminate(e);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
