/**
 * `mailbox tail [--admin URL]`: follows the runtime's bus events (readiness, shard crashes,
 * storage) as JSON lines. When the server drains it sends one last line
 * `{"type":"StreamClosed","reason":"draining"}` and ends the stream: tail says so on stderr and
 * exits 0. A stream that ends without that line is a failure (exit 1).
 */
import { parseCommand, type CommandSpec } from './args.ts';
import { ADMIN_OPTIONS, CA_HELP, adminHeaders, adminUrl, causeText, fetchServer, targetCa } from './common.ts';

export const TAIL: CommandSpec<typeof ADMIN_OPTIONS> = {
  command: 'tail',
  usage: 'usage: mailbox tail [--admin URL] [--ca FILE] [--token T | --token-file F] [--config FILE] [--data-dir D]',
  details: `Follows the bus events of a running server (GET /debug/events) as JSON lines, until
interrupted. When the server drains, the stream ends with a StreamClosed line: tail says the
server is draining and exits 0; a stream that ends otherwise exits 1.

  --admin URL      the admin port, default http://<metricsAddr> of the configuration
${CA_HELP}
  --token T        admin token, sent when found (else MAILBOX_TOKEN, --token-file /
                   MAILBOX_TOKEN_FILE, <dataDir>/admin.token); /debug needs it off loopback
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`,
  options: ADMIN_OPTIONS,
};

/** The server's last line on a stream it closes because it drains. */
export function isDrainClose(line: string): boolean {
  if (!line.includes('StreamClosed')) return false;
  try {
    const event = JSON.parse(line) as { type?: unknown; reason?: unknown };
    return event.type === 'StreamClosed' && event.reason === 'draining';
  } catch {
    return false;
  }
}

export async function tail(argv: string[]): Promise<void> {
  const args = parseCommand(TAIL, argv);
  if (!args) return;
  const base = await adminUrl(TAIL, args.values);
  const res = await fetchServer(`${base}/debug/events`, { headers: await adminHeaders(args.values), ca: await targetCa(args.values) });
  if (!res.ok || !res.body) throw new Error(`${base}/debug/events: HTTP ${res.status}`);
  const decoder = new TextDecoder();
  let pending = '';
  let drained = false;
  let broken = '';
  try {
    for await (const chunk of res.body) {
      const text = decoder.decode(chunk as Uint8Array, { stream: true });
      process.stdout.write(text);
      // Look at whole lines only: the closing line may arrive split over two chunks.
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      if (lines.some(isDrainClose)) drained = true;
    }
  } catch (err) {
    // The connection broke mid-stream: say how (`: connection reset by peer`).
    broken = `: ${causeText(err)}`;
  }
  if (drained || isDrainClose(pending)) {
    process.stderr.write(`mailbox tail: ${base} is draining; event stream closed\n`);
    return;
  }
  process.stderr.write(`mailbox tail: the event stream of ${base} ended unexpectedly${broken}\n`);
  process.exitCode = 1;
}
