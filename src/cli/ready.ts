/**
 * `mailbox ready [--wait 30s] [--admin URL]`: asks /readyz until it answers 200 or the time is
 * up. Exit 0 when ready; 1 with the readiness state and reasons when not, or naming the URL and
 * the cause when the admin port cannot be reached (it is polled throughout: a server that is
 * still starting refuses connections at first). The upgrade procedure's "is the new one up".
 */
import { durationValue, parseCommand, type CommandSpec } from './args.ts';
import { CA_HELP, CA_OPTION, CONFIG_OPTIONS, adminUrl, cannotReach, requestServer, targetCa } from './common.ts';

const READY_OPTIONS = { ...CONFIG_OPTIONS, admin: { type: 'string' }, wait: { type: 'string' }, ...CA_OPTION } as const;

export const READY: CommandSpec<typeof READY_OPTIONS> = {
  command: 'ready',
  usage: 'usage: mailbox ready [--wait 30s] [--admin URL] [--ca FILE] [--config FILE] [--data-dir D]',
  details: `Asks a server's GET /readyz, again every 250 ms until it answers 200 or --wait is up.
Exits 0 when ready; 1 when not (with the state and reasons) or when the admin port cannot be
reached (naming the URL and the cause).

  --wait D         how long to keep asking: 30s, 500ms, 2m (default: ask once)
  --admin URL      the admin port, default http://<metricsAddr> of the configuration
${CA_HELP}
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`,
  options: READY_OPTIONS,
};

const POLL_MS = 250;

type Answer = { ready: true } | { ready: false; why: string } | { ready: false; unreachable: unknown };

async function ask(url: string, ca: Buffer | undefined): Promise<Answer> {
  let res: Response;
  try {
    res = await requestServer(url, { signal: AbortSignal.timeout(5_000), ca });
  } catch (err) {
    return { ready: false, unreachable: err };
  }
  const text = await res.text().catch(() => '');
  if (res.status === 200) return { ready: true };
  let why = `HTTP ${res.status}`;
  try {
    const body = JSON.parse(text) as { state?: unknown; reasons?: unknown };
    if (typeof body.state === 'string') {
      const reasons = Array.isArray(body.reasons) && body.reasons.length > 0 ? ` (${body.reasons.map(String).join('; ')})` : '';
      why = `${body.state}${reasons}`;
    }
  } catch {
    // not a readiness report: the status says it
  }
  return { ready: false, why };
}

export async function ready(argv: string[]): Promise<void> {
  const args = parseCommand(READY, argv);
  if (!args) return;
  const waitMs = durationValue(READY, 'wait', args.values.wait) ?? 0;
  const url = `${await adminUrl(READY, args.values)}/readyz`;
  const ca = await targetCa(args.values);
  const deadline = performance.now() + waitMs;
  for (;;) {
    const answer = await ask(url, ca);
    if (answer.ready) {
      process.stdout.write(`${url}: ready\n`);
      return;
    }
    if (performance.now() + POLL_MS > deadline) {
      if ('unreachable' in answer) throw cannotReach(url, answer.unreachable);
      const after = waitMs > 0 ? ` after ${args.values.wait}` : '';
      throw new Error(`${url}: not ready${after}: ${answer.why}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
