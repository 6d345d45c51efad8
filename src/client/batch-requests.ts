/**
 * How one tick's batch goes on the wire: a batch of one as the plain op (SEND, ACK), more
 * as SEND_BATCH / ACK_BATCH, whose per-item results are fanned out to each caller. Items
 * were schema-checked when they were queued, so one bad item fails only its own caller
 * and the batch body is encoded without a second check.
 */
import { MailboxError } from '../errors.ts';
import {
  OPS, encodeBody, errorFromWire, type AckBatchResponse, type AckRequest, type SendBatchResponse, type SendRequest,
  type SendResponse,
} from '../protocol/index.ts';
import { encodeAckBatch, encodeSendBatch } from '../protocol/encode-batch.ts';
import type { Batch } from './batcher.ts';
import type { Connection } from './connection.ts';
import type { SendResult } from './types.ts';

/** Sends a batch of SENDs; returns true when it went as a SEND_BATCH. */
export function sendBatchOn(conn: Connection, batch: Batch<SendRequest, SendResult>): boolean {
  const reject = (err: MailboxError): void => batch.rejectAll(err);
  if (batch.size === 1) {
    conn.request(OPS.SEND, encodeBody(batch.items[0]), { op: OPS.SEND, resolve: (v) => batch.resolve(0, v as SendResponse), reject });
    return false;
  }
  conn.request(OPS.SEND_BATCH, encodeSendBatch(batch.items), {
    op: OPS.SEND_BATCH,
    resolve: (v) => {
      const { results } = v as SendBatchResponse;
      for (let i = 0; i < batch.size; i++) {
        const r = results[i];
        if (r === undefined) batch.reject(i, short('SEND_BATCH', results.length, batch.size));
        else if ('error' in r) batch.reject(i, errorFromWire(r.error));
        else batch.resolve(i, r);
      }
    },
    reject,
  });
  return true;
}

/** Sends a batch of ACKs; returns true when it went as an ACK_BATCH. */
export function ackBatchOn(conn: Connection, batch: Batch<AckRequest, void>): boolean {
  const reject = (err: MailboxError): void => batch.rejectAll(err);
  if (batch.size === 1) {
    conn.request(OPS.ACK, encodeBody(batch.items[0]), { op: OPS.ACK, resolve: () => batch.resolve(0, undefined), reject });
    return false;
  }
  conn.request(OPS.ACK_BATCH, encodeAckBatch(batch.items), {
    op: OPS.ACK_BATCH,
    resolve: (v) => {
      const { results } = v as AckBatchResponse;
      for (let i = 0; i < batch.size; i++) {
        const r = results[i];
        if (r === null) batch.resolve(i, undefined);
        else if (r === undefined) batch.reject(i, short('ACK_BATCH', results.length, batch.size));
        else batch.reject(i, errorFromWire(r));
      }
    },
    reject,
  });
  return true;
}

function short(op: string, got: number, sent: number): MailboxError {
  return new MailboxError('E_INTERNAL', `${op} answered ${got} of ${sent} items`);
}
