/**
 * The floor server: the least any Node.js broker does per message, and nothing more. It decodes
 * a batch of SENDs, keeps each payload (a Map; with `level`, also LevelDB, fsynced before the
 * confirmation), pushes the queue to the one consumer in batches, takes ACK batches and deletes.
 * No validation, ids, dedup, leases, hashing or supervision: what svc-mailbox costs above this is
 * its design, not Node.js, WebSocket or msgpack. Usage: server.ts <port> [amnesia|level <dir>]
 */
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FloorMessage } from './wire.ts';

const [portArg, store = 'amnesia', dir] = process.argv.slice(2);
const packr = new Packr({ useRecords: false });
const db = store === 'level' ? new ClassicLevel<string, Buffer>(dir!, { keyEncoding: 'utf8', valueEncoding: 'buffer' }) : undefined;
await db?.open();

const payloads = new Map<string, Buffer>();
const ready: string[] = [];
let consumer: WebSocket | undefined;
let nextId = 0;

// LevelDB group commit: one batch (sync) at a time; whatever arrives meanwhile goes in the next.
let puts: Array<[string, Buffer]> = [];
let dels: string[] = [];
let waiting: Array<() => void> = [];
let writing = false;

function commit(then: () => void): void {
  if (db === undefined) return then();
  waiting.push(then);
  if (!writing) setImmediate(write);
}

function write(): void {
  if (db === undefined || writing || waiting.length === 0) return;
  writing = true;
  const batch = db.batch();
  for (const [k, v] of puts) batch.put(k, v);
  for (const k of dels) batch.del(k);
  const done = waiting;
  [puts, dels, waiting] = [[], [], []];
  batch.write({ sync: true }).then(() => {
    writing = false;
    for (const f of done) f();
    write();
  }, (err: unknown) => {
    process.stderr.write(`floor server: write failed: ${String(err)}\n`);
    process.exit(1);
  });
}

function pump(): void {
  if (consumer === undefined || ready.length === 0) return;
  const ids = ready.splice(0, 256);
  consumer.send(packr.pack({ t: 'deliver', items: ids.map((id) => ({ id, payload: payloads.get(id) })) } satisfies FloorMessage));
  if (ready.length > 0) setImmediate(pump);
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(portArg), maxPayload: 1 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer) => {
    const msg = packr.unpack(data) as FloorMessage;
    if (msg.t === 'subscribe') {
      consumer = ws;
      pump();
    } else if (msg.t === 'send') {
      const ids = msg.items.map((item) => {
        const id = `m${nextId++}`;
        const copy = Buffer.from(item.payload); // the frame is not kept, as a real store would not keep it
        payloads.set(id, copy);
        if (db) puts.push([id, copy]);
        ready.push(id);
        return id;
      });
      commit(() => {
        ws.send(packr.pack({ t: 'sent', ids } satisfies FloorMessage));
        pump();
      });
    } else if (msg.t === 'ack') {
      for (const id of msg.ids) {
        payloads.delete(id);
        if (db) dels.push(id);
      }
      commit(() => ws.send(packr.pack({ t: 'acked', n: msg.ids.length } satisfies FloorMessage)));
    } else if (msg.t === 'stats') {
      ws.send(packr.pack({ t: 'left', messages: payloads.size } satisfies FloorMessage));
    }
  });
});
wss.on('listening', () => process.stdout.write('listening\n'));
