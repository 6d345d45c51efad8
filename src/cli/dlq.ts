/**
 * `mailbox dlq list|reprocess|purge [--topic T] [--reason R] [--limit N] [--after MSGID] [--tenant HEX]
 *  [--url ws://…] [--token …|--token-file F] [--json]`
 *
 * Talks to a running server over OAP/1 through the SDK, with the admin token (see common.ts:
 * --token, MAILBOX_TOKEN, --token-file, else the first-start `<dataDir>/admin.token`). DLQ
 * operations are scoped to one tenant: the default tenant unless --tenant names another.
 */
import { MailboxClient } from '../client/index.ts';
import type { DlqEntry, DlqReason } from '../client/index.ts';
import { MailboxError } from '../errors.ts';
import { intOption, parseArgs, stringOption, type ParsedArgs } from './args.ts';
import { token, wsUrl } from './common.ts';

const USAGE = 'usage: mailbox dlq list|reprocess|purge [--topic T] [--reason R] [--limit N] [--after MSGID] [--tenant HEX] [--url ws://…] [--token …|--token-file F] [--json]';
const REASONS: readonly DlqReason[] = ['expired', 'nacked', 'session_lost', 'server_restart'];

interface Filter {
  topic?: string;
  reason?: DlqReason;
  limit?: number;
}

function filterFrom(args: ParsedArgs): Filter {
  const filter: Filter = {};
  const topic = stringOption(args, 'topic');
  if (topic !== undefined) filter.topic = topic;
  const reason = stringOption(args, 'reason');
  if (reason !== undefined) {
    if (!(REASONS as readonly string[]).includes(reason)) {
      throw new MailboxError('E_SCHEMA', `--reason must be one of ${REASONS.join(', ')}, got ${JSON.stringify(reason)}`);
    }
    filter.reason = reason as DlqReason;
  }
  const limit = intOption(args, 'limit');
  if (limit !== undefined) {
    if (limit < 1) throw new MailboxError('E_SCHEMA', '--limit must be at least 1');
    filter.limit = limit;
  }
  return filter;
}

/** The outcome (and reason, if one was given) of the attempt that ended last. */
export function lastAttempt(entry: DlqEntry): string {
  const last = entry.history[entry.history.length - 1];
  if (!last) return '-';
  return last.reason ? `${last.outcome}: ${last.reason}` : last.outcome;
}

/** DLQ entries as an aligned text table, one row per entry. */
export function renderDlqTable(entries: readonly DlqEntry[]): string {
  const header = ['msgId', 'topic', 'reason', 'attempts', 'deadAt', 'last attempt'];
  const rows = entries.map((e) => [e.msgId, e.topic, e.reason, String(e.attempt), new Date(e.deadAt).toISOString(), lastAttempt(e)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export async function dlq(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'list' && sub !== 'reprocess' && sub !== 'purge') throw new MailboxError('E_SCHEMA', USAGE);
  const args = parseArgs(rest, new Set(['json']));
  const filter = filterFrom(args);
  const after = stringOption(args, 'after');
  const tenant = stringOption(args, 'tenant');
  const json = args.options.get('json') === true;
  const client = await MailboxClient.connect(await wsUrl(args), {
    token: await token(args),
    reconnect: false,
    clientName: 'mailbox-cli',
    ...(tenant === undefined ? {} : { tenant }),
  });
  try {
    if (sub === 'list') {
      const entries = await client.dlq.list({ ...filter, ...(after === undefined ? {} : { after }) });
      if (json) {
        // Payloads are bytes; print them as base64 so the output stays JSON.
        const printable = entries.map(({ payload, ...e }) => (payload ? { ...e, payloadBase64: Buffer.from(payload).toString('base64') } : e));
        process.stdout.write(`${JSON.stringify(printable, null, 2)}\n`);
      } else {
        process.stdout.write(`${renderDlqTable(entries)}\n`);
        process.stderr.write(`${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}\n`);
      }
      return;
    }
    const count = sub === 'reprocess' ? await client.dlq.reprocess(filter) : await client.dlq.purge(filter);
    if (json) process.stdout.write(`${JSON.stringify({ [sub === 'reprocess' ? 'reprocessed' : 'purged']: count })}\n`);
    else process.stdout.write(`${sub === 'reprocess' ? 'reprocessed' : 'purged'} ${count}\n`);
  } finally {
    await client.close();
  }
}
