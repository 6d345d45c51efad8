/**
 * `mailbox dlq list|reprocess|purge [--topic T] [--reason R] [--limit N] [--after MSGID] [--tenant HEX]
 *  [--rate N/s] [--dry-run] [--history] [--url ws://…] [--token …|--token-file F] [--json]`
 *
 * Talks to a running server over OAP/1 through the SDK, with the admin token (see common.ts:
 * --token, MAILBOX_TOKEN, --token-file, else the first-start `<dataDir>/admin.token`). DLQ
 * operations are scoped to one tenant: the default tenant unless --tenant names another.
 */
import { MailboxClient } from '../client/index.ts';
import type { DlqEntry, DlqReason } from '../client/index.ts';
import { intValue, parseCommand, usageError, type CommandSpec, type Values } from './args.ts';
import { CA_HELP, CLIENT_OPTIONS, cannotReach, certErrorOf, cliTarget, errnoOf } from './common.ts';
import { matchingEntries, parseRate, reprocessAtRate, stopOnSigint } from './dlq-reprocess.ts';

const DLQ_OPTIONS = {
  ...CLIENT_OPTIONS,
  topic: { type: 'string' },
  reason: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  tenant: { type: 'string' },
  rate: { type: 'string' },
  'dry-run': { type: 'boolean' },
  history: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const DLQ: CommandSpec<typeof DLQ_OPTIONS> = {
  command: 'dlq',
  usage: 'usage: mailbox dlq list|reprocess|purge [--topic T] [--reason R] [--limit N] [--after MSGID] [--tenant HEX] [--rate N/s] [--dry-run] [--history] [--url ws://…] [--ca FILE] [--token T | --token-file F] [--json]',
  details: `The dead-letter queue of a running server, over OAP/1 with the admin token.

  list | reprocess | purge   show the entries / put them back with attempts reset / delete them
  --topic T        only this topic
  --reason R       only this reason: expired, nacked, session_lost, server_restart
  --limit N        at most N entries
  --after MSGID    list: the page after this msgId
  --tenant HEX     the tenant (default: the default tenant)
  --rate N/s       reprocess: move N a second, one atomic step each second, with a progress
                   bar on stderr; Ctrl-C stops after the step in flight (nothing lost or
                   moved twice), prints what moved and what is left, exits 130
  --dry-run        reprocess: list and count what would move; move nothing
  --history        list: every attempt under its entry (number, outcome, time, session, reason)
  --json           JSON output (payloads as base64)
  --url URL        the WebSocket port (else MAILBOX_URL, else ws://<listen> of the configuration)
${CA_HELP}
  --token T        the admin token (else MAILBOX_TOKEN, --token-file / MAILBOX_TOKEN_FILE,
                   else <dataDir>/admin.token)
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`,
  options: DLQ_OPTIONS,
};
const REASONS: readonly DlqReason[] = ['expired', 'nacked', 'session_lost', 'server_restart'];

interface Filter {
  topic?: string;
  reason?: DlqReason;
  limit?: number;
}

function filterFrom(spec: CommandSpec<typeof DLQ_OPTIONS>, v: Values<typeof DLQ_OPTIONS>): Filter {
  const filter: Filter = {};
  if (v.topic !== undefined) filter.topic = v.topic;
  const { reason } = v;
  if (reason !== undefined) {
    if (!(REASONS as readonly string[]).includes(reason)) {
      throw usageError(spec, `--reason must be one of ${REASONS.join(', ')}, got ${JSON.stringify(reason)}`);
    }
    filter.reason = reason as DlqReason;
  }
  const limit = intValue(spec, 'limit', v.limit);
  if (limit !== undefined) {
    if (limit < 1) throw usageError(spec, '--limit must be at least 1');
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

/** One attempt of an entry's history, as `dlq list --history` prints it under the entry. */
export function renderAttempt(a: DlqEntry['history'][number]): string {
  const parts = [`  #${a.attempt}`, a.outcome, new Date(a.at).toISOString()];
  if (a.session !== undefined) parts.push(`session ${a.session}`);
  if (a.reason !== undefined) parts.push(`reason ${JSON.stringify(a.reason)}`);
  return parts.join('  ');
}

/** DLQ entries as an aligned text table, one row per entry (with `history`, its attempts below it). */
export function renderDlqTable(entries: readonly DlqEntry[], history = false): string {
  const header = ['msgId', 'topic', 'reason', 'attempts', 'deadAt', 'last attempt'];
  const rows = entries.map((e) => [e.msgId, e.topic, e.reason, String(e.attempt), new Date(e.deadAt).toISOString(), lastAttempt(e)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.flatMap((r, k) => (history ? [line(r), ...entries[k]!.history.map(renderAttempt)] : [line(r)]))].join('\n');
}

export async function dlq(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    parseCommand(DLQ, ['--help']);
    return;
  }
  if (sub !== 'list' && sub !== 'reprocess' && sub !== 'purge') {
    throw usageError(DLQ, sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`);
  }
  const spec = { ...DLQ, command: `dlq ${sub}` };
  const args = parseCommand(spec, rest);
  if (!args) return;
  const filter = filterFrom(spec, args.values);
  const { after, tenant } = args.values;
  const json = args.values.json === true;
  const dryRun = args.values['dry-run'] === true;
  if (sub !== 'list' && args.values.history === true) throw usageError(spec, '--history is for dlq list only');
  if (sub !== 'reprocess' && (args.values.rate !== undefined || dryRun)) {
    throw usageError(spec, `${args.values.rate !== undefined ? '--rate' : '--dry-run'} is for dlq reprocess only`);
  }
  const rate = args.values.rate === undefined ? undefined : parseRate(spec, args.values.rate);
  const target = await cliTarget(spec, args.values);
  const client = await MailboxClient.connect(target.url, {
    token: target.token,
    reconnect: false,
    clientName: 'mailbox-cli',
    ...(tenant === undefined ? {} : { tenant }),
    ...(target.ca ? { ca: target.ca } : {}),
  }).catch((err: unknown) => {
    // A socket that never opened: name the URL and the cause, as the HTTP commands do.
    throw errnoOf(err) || certErrorOf(err) ? cannotReach(target.url, err) : err;
  });
  try {
    if (sub === 'list') {
      const entries = await client.dlq.list({ ...filter, ...(after === undefined ? {} : { after }) });
      if (json) {
        // Payloads are bytes; print them as base64 so the output stays JSON.
        const printable = entries.map(({ payload, ...e }) => (payload ? { ...e, payloadBase64: Buffer.from(payload).toString('base64') } : e));
        process.stdout.write(`${JSON.stringify(printable, null, 2)}\n`);
      } else {
        process.stdout.write(`${renderDlqTable(entries, args.values.history === true)}\n`);
        process.stderr.write(`${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}\n`);
      }
      return;
    }
    if (sub === 'reprocess' && dryRun) {
      const entries = await matchingEntries(client, filter, filter.limit);
      if (json) process.stdout.write(`${JSON.stringify({ wouldReprocess: entries.length, msgIds: entries.map((e) => e.msgId) })}\n`);
      else process.stdout.write(`${entries.length > 0 ? `${renderDlqTable(entries)}\n` : ''}would reprocess ${entries.length}\n`);
      return;
    }
    if (sub === 'reprocess' && rate !== undefined) {
      const io = stopOnSigint(process.stderr);
      try {
        const outcome = await reprocessAtRate(client, filter, rate, io);
        if (json) process.stdout.write(`${JSON.stringify(outcome)}\n`);
        else process.stdout.write(`${outcome.interrupted ? 'interrupted: ' : ''}reprocessed ${outcome.reprocessed}, ${outcome.left} left\n`);
        if (outcome.interrupted) process.exitCode = 130;
      } finally {
        io.dispose();
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
