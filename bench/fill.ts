/**
 * Queues many messages fast, for figures that need a backlog (durable-figures.ts): several
 * producer connections, each with a window of pipelined sends that the SDK coalesces into
 * SEND_BATCH frames, spread round-robin over a set of topics. Nothing is received.
 */
import { MailboxError, type MailboxClient } from '../src/client/index.ts';
import { Window, makePayload, now } from './lib.ts';

/** Unconfirmed sends per producer connection. */
const WINDOW = 2_000;
/** A SEND refused with a retryable error (E_SATURATED while the server sheds load) is tried again this often. */
const SEND_RETRIES = 50;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Sequence numbers 0, 1, 2, … sent to `topics` over `clients`; `queued` of them confirmed so far. */
export class Filler {
  queued = 0;
  readonly topics: string[];

  /** `name` makes topics and idemKeys unique: `<name>.<i>` and `<name>-<seq>`. */
  constructor(
    private readonly clients: readonly MailboxClient[],
    private readonly name: string,
    topics: number,
    private readonly payload: number,
  ) {
    this.topics = Array.from({ length: topics }, (_, i) => `${name}.${i}`);
  }

  /**
   * Sends until `to` messages are confirmed in all (counting earlier calls); rejects on the
   * first SEND that fails for good, or when no SEND was confirmed for `stallMs`.
   */
  async fillTo(to: number, stallMs: number, progress: (queued: number) => void = () => {}): Promise<void> {
    let failure: Error | undefined;
    let lastConfirm = now();
    const send = (client: MailboxClient, seq: number, win: Window, tries = 0): void => {
      const input = { topic: this.topics[seq % this.topics.length]!, idemKey: `${this.name}-${seq}`, payload: makePayload(seq, this.payload) };
      client.send(input).then(
        () => {
          this.queued++;
          lastConfirm = now();
          progress(this.queued);
          win.release();
        },
        (err: unknown) => {
          if (err instanceof MailboxError && err.retryable && client.connected && tries < SEND_RETRIES) {
            setTimeout(() => send(client, seq, win, tries + 1), err.retryAfterMs ?? 50);
            return;
          }
          failure ??= new Error(`SEND #${seq} failed: ${message(err)}`);
          win.release();
        },
      );
    };
    let next = this.queued;
    const produce = async (client: MailboxClient): Promise<void> => {
      const win = new Window(WINDOW);
      for (;;) {
        const w = win.acquire();
        if (w) await w;
        if (next >= to || failure) {
          win.release();
          break;
        }
        send(client, next++, win);
      }
      await win.drain();
    };
    let watchdog: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      watchdog = setInterval(() => {
        if (now() - lastConfirm > stallMs) reject(new Error(`no SEND confirmed for ${Math.round(stallMs / 1000)} s (${this.queued} queued)`));
      }, 1_000);
    });
    try {
      await Promise.race([Promise.all(this.clients.map(produce)), stalled]);
    } finally {
      clearInterval(watchdog);
    }
    if (failure) throw failure;
  }
}
