/**
 * `mailbox drain [--admin URL] [--token T | --token-file F]`: asks a running server to drain, as
 * SIGTERM would (POST /admin/drain, an admin token for every tenant). The server answers 202 at
 * once, then drains; under `mailbox serve` it exits 0 once its leases settle.
 */
import { parseCommand, type CommandSpec } from './args.ts';
import { ADMIN_OPTIONS, CA_HELP, adminHeaders, adminUrl, fetchServer, targetCa } from './common.ts';

export const DRAIN: CommandSpec<typeof ADMIN_OPTIONS> = {
  command: 'drain',
  usage: 'usage: mailbox drain [--admin URL] [--ca FILE] [--token T | --token-file F] [--config FILE] [--data-dir D]',
  details: `Asks a running server to drain, as SIGTERM would (POST /admin/drain): readiness goes to
draining, SENDs are refused, open leases settle (up to drainTimeoutMs), then \`mailbox serve\`
exits 0. Returns as soon as the server accepted (HTTP 202); \`mailbox ready\` then fails.

  --admin URL      the admin port, default http://<metricsAddr> of the configuration
${CA_HELP}
  --token T        an admin token for every tenant (else MAILBOX_TOKEN, --token-file /
                   MAILBOX_TOKEN_FILE, <dataDir>/admin.token)
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`,
  options: ADMIN_OPTIONS,
};

export async function drain(argv: string[]): Promise<void> {
  const args = parseCommand(DRAIN, argv);
  if (!args) return;
  const base = await adminUrl(DRAIN, args.values);
  const url = `${base}/admin/drain`;
  const res = await fetchServer(url, { method: 'POST', headers: await adminHeaders(args.values), ca: await targetCa(args.values) });
  const text = await res.text();
  if (res.status !== 202) {
    let why = text.slice(0, 200);
    try {
      const e = JSON.parse(text) as { code?: string; message?: string };
      if (e.code !== undefined) why = `${e.code}: ${e.message ?? ''}`;
    } catch {
      // not JSON: the text as it came
    }
    throw new Error(`${url}: HTTP ${res.status}: ${why}`);
  }
  process.stdout.write(`${base}: draining (the server exits once its leases settle)\n`);
}
