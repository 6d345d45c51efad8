/**
 * `mailbox dlq reprocess --rate N/s [--dry-run]`: moves the DLQ's matching entries back to ready
 * in steps of one second's worth (a DLQ_REPROCESS with `limit` = N, which every shard applies in
 * one atomic commit), so Ctrl-C between or during steps never loses or duplicates a message:
 * the step in flight finishes, the command says what moved and what is left, and exits 130.
 */
import type { DlqEntry, DlqReason, MailboxClient } from '../client/index.ts';
import { usageError, type CommandSpec, type OptionSpecs } from './args.ts';

export interface ReprocessFilter {
  topic?: string;
  reason?: DlqReason;
  limit?: number;
}

/** `--rate 100/s` → 100. Anything but a positive integer followed by `/s` is a usage error. */
export function parseRate(spec: CommandSpec<OptionSpecs>, raw: string): number {
  const m = /^(\d[\d_]*)\/s$/.exec(raw.trim());
  const n = m ? Number(m[1]!.replaceAll('_', '')) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw usageError(spec, `--rate must be N/s with N a positive integer (e.g. 100/s), got ${JSON.stringify(raw)}`);
  return n;
}

const LIST_PAGE = 1000;

/** Every matching entry (paged with `after`), at most `cap`. */
export async function matchingEntries(client: MailboxClient, filter: ReprocessFilter, cap = Number.POSITIVE_INFINITY): Promise<DlqEntry[]> {
  const out: DlqEntry[] = [];
  let after: string | undefined;
  while (out.length < cap) {
    const want = Math.min(LIST_PAGE, cap - out.length);
    const page = await client.dlq.list({
      ...(filter.topic === undefined ? {} : { topic: filter.topic }),
      ...(filter.reason === undefined ? {} : { reason: filter.reason }),
      limit: want,
      ...(after === undefined ? {} : { after }),
    });
    out.push(...page);
    if (page.length < want) break;
    after = page[page.length - 1]!.msgId;
  }
  return out.slice(0, cap);
}

/** `[########------------]  40/100 moved, 60 left, 20/s`: one line, redrawn in place on a TTY. */
export function progressLine(moved: number, total: number, rate: number, width = 24): string {
  const shown = Math.max(total, moved);
  const filled = shown === 0 ? width : Math.round((moved / shown) * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  return `${bar} ${moved}/${shown} moved, ${Math.max(0, shown - moved)} left, ${rate}/s`;
}

export interface ReprocessIo {
  /** stderr; a TTY gets a redrawn bar, anything else a plain line per step (one a second). */
  err: NodeJS.WriteStream;
  /** Resolves when the operator asked to stop (first Ctrl-C). */
  stopped: Promise<void>;
  isStopped(): boolean;
}

export interface ReprocessOutcome {
  reprocessed: number;
  left: number;
  interrupted: boolean;
}

/** Moves at most `rate` matching entries per second until none match (or `filter.limit` moved, or a stop). */
export async function reprocessAtRate(client: MailboxClient, filter: ReprocessFilter, rate: number, io: ReprocessIo): Promise<ReprocessOutcome> {
  const cap = filter.limit ?? Number.POSITIVE_INFINITY;
  const total = (await matchingEntries(client, filter, cap)).length;
  const tty = io.err.isTTY === true;
  const draw = (moved: number): void => {
    const line = progressLine(moved, total, rate);
    io.err.write(tty ? `\r\x1b[2K${line}` : `mailbox dlq reprocess: ${line}\n`);
  };
  let moved = 0;
  draw(0);
  while (!io.isStopped() && moved < cap) {
    const stepEnds = performance.now() + 1000;
    const want = Math.min(rate, cap - moved);
    const n = await client.dlq.reprocess({ ...filter, limit: want });
    moved += n;
    draw(moved);
    if (n < want) break; // nothing more matches
    const wait = stepEnds - performance.now();
    if (wait > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, wait))), io.stopped]);
      clearTimeout(timer);
    }
  }
  if (tty) io.err.write('\n');
  const { limit: _limit, ...unlimited } = filter;
  const left = (await matchingEntries(client, unlimited)).length;
  return { reprocessed: moved, left, interrupted: io.isStopped() };
}

/**
 * SIGINT handling for the run: the first Ctrl-C asks to stop after the step in flight; a second
 * one exits 130 at once (the server still completes that step, atomically per shard).
 */
export function stopOnSigint(err: NodeJS.WriteStream): ReprocessIo & { dispose(): void } {
  let stop = false;
  let resolve: () => void = () => {};
  const stopped = new Promise<void>((r) => (resolve = r));
  const onSigint = (): void => {
    if (stop) {
      err.write('\nmailbox dlq reprocess: interrupted again, exiting; the step in flight completes on the server\n');
      process.exit(130);
    }
    stop = true;
    err.write(`${err.isTTY ? '\n' : ''}mailbox dlq reprocess: interrupted, stopping after the step in flight (Ctrl-C again to exit at once)\n`);
    resolve();
  };
  process.on('SIGINT', onSigint);
  return { err, stopped, isStopped: () => stop, dispose: () => process.off('SIGINT', onSigint) };
}
