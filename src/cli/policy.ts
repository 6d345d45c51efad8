/**
 * `mailbox policy check FILE | show | reload`: the governance policy (per-tenant quotas,
 * presets). `check` reads a file here and says what is wrong, by line and key, without a
 * server; `show` prints the policy a running server has in force and the time left on its
 * presets (GET /admin/policy); `reload` makes it read its policy file again (POST
 * /admin/policy/reload, an admin token): all or nothing, a bad file leaves the cached policy.
 */
import { readFile } from 'node:fs/promises';
import { activePresets, parsePolicy } from '../domain/policy.ts';
import { describeProblems, type PolicyReport } from '../runtime/policy-holder.ts';
import { parseCommand, usageError, type CommandSpec } from './args.ts';
import { ADMIN_OPTIONS, adminHeaders, adminUrl, fetchServer } from './common.ts';

export const POLICY: CommandSpec<typeof ADMIN_OPTIONS> = {
  command: 'policy',
  usage: 'usage: mailbox policy check FILE | show | reload [--admin URL] [--token T | --token-file F] [--config FILE] [--data-dir D]',
  details: `The governance policy: per-tenant SEND quotas and time-boxed presets (docs/OPERATIONS.md, Governance).

  check FILE   validate a policy file here (no server): every problem with its line and key; exit 1 if any
  show         the policy a running server has in force, and the time left on each active preset
  reload       make the server read its policyFile again (also SIGHUP): applied whole, or refused
               whole with the reason while the cached policy stays

  --admin URL      the admin port, default http://<metricsAddr> of the configuration
  --token T        an admin token for every tenant (reload; else MAILBOX_TOKEN, --token-file /
                   MAILBOX_TOKEN_FILE, <dataDir>/admin.token)
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`,
  options: ADMIN_OPTIONS,
  positionals: { min: 1, max: 2 },
};

export async function policy(argv: string[]): Promise<void> {
  const args = parseCommand(POLICY, argv);
  if (!args) return;
  const [action, file, ...rest] = args.positionals;
  if (rest.length > 0) throw usageError(POLICY, `unexpected argument ${JSON.stringify(rest[0])}`);
  switch (action) {
    case 'check':
      if (!file) throw usageError(POLICY, 'policy check needs a FILE');
      return check(file);
    case 'show':
    case 'reload':
      if (file !== undefined) throw usageError(POLICY, `policy ${action} takes no argument, got ${JSON.stringify(file)}`);
      return action === 'show' ? show(await adminUrl(POLICY, args.values)) : reload(await adminUrl(POLICY, args.values), await adminHeaders(args.values));
    default:
      throw usageError(POLICY, action === undefined ? 'policy needs check, show or reload' : `unknown action ${JSON.stringify(action)}`);
  }
}

async function check(file: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const result = parsePolicy(text, Date.now());
  if (!result.ok) {
    for (const p of result.problems) process.stdout.write(`${file}:${p.line ?? '?'}: ${p.key}: ${p.message}\n`);
    process.exitCode = 1;
    return;
  }
  const p = result.policy;
  const presets = activePresets(p, Date.now());
  process.stdout.write(`${file}: ok (${Object.keys(p.tenants).length} tenants, ${presets.length} active presets)\n`);
}

async function show(base: string): Promise<void> {
  const url = `${base}/admin/policy`;
  const res = await fetchServer(url);
  const body = await answer(url, res, 200);
  const report = body as PolicyReport;
  process.stdout.write(`policy file: ${report.file ?? '(none: quota.* keys)'}${report.loadedAt ? `, loaded ${report.loadedAt}` : ''}\n`);
  process.stdout.write(`${JSON.stringify(report.policy, null, 2)}\n`);
  for (const p of report.presets) process.stdout.write(`preset ${p.name}: scale ${p.scale}, ${Math.ceil(p.leftMs / 60_000)} min left\n`);
}

async function reload(base: string, headers: Record<string, string>): Promise<void> {
  const url = `${base}/admin/policy/reload`;
  const res = await fetchServer(url, { method: 'POST', headers });
  const body = (await answer(url, res, 200)) as { changes: string[] };
  process.stdout.write(`${base}: policy reloaded, ${body.changes.length} change(s)\n`);
  for (const line of body.changes) process.stdout.write(`  ${line}\n`);
}

async function answer(url: string, res: Response, want: number): Promise<unknown> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status === want) return body;
  const e = body as { code?: string; message?: string; problems?: Parameters<typeof describeProblems>[0] } | undefined;
  const why = e?.code !== undefined ? `${e.code}: ${e.message ?? ''}` : text.slice(0, 200);
  throw new Error(`${url}: HTTP ${res.status}: ${why}`);
}
