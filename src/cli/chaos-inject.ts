/**
 * `mailbox chaos inject --fault F [--duration 60s] [--target PATH] [--delay D] [--percent N] [--every D]`,
 * `mailbox chaos clear [--fault F]` and `mailbox chaos faults`: fault injection into a running
 * server over its admin port (POST / DELETE / GET /admin/chaos), with the admin token for every
 * tenant; the server must run with chaos.enabled. Prints the server's JSON answer.
 */
import { CHAOS_FAULTS, parseDurationMs } from '../chaos-control/spec.ts';
import { parseCommand, usageError, type CommandSpec, type OptionSpecs } from './args.ts';
import { ADMIN_OPTIONS, CA_HELP, adminUrl, getJson, targetCa, targetToken } from './common.ts';

const TOKEN_HELP = `  --admin URL      the admin port, default http://<metricsAddr> of the configuration
${CA_HELP}
  --token T        the admin token for every tenant (else MAILBOX_TOKEN, --token-file /
                   MAILBOX_TOKEN_FILE, else <dataDir>/admin.token)
  --config FILE    the configuration the server runs with; --data-dir D its data directory`;

const INJECT_OPTIONS = {
  ...ADMIN_OPTIONS,
  fault: { type: 'string' },
  duration: { type: 'string' },
  target: { type: 'string' },
  delay: { type: 'string' },
  percent: { type: 'string' },
  every: { type: 'string' },
} as const;

const INJECT: CommandSpec<typeof INJECT_OPTIONS> = {
  command: 'chaos inject',
  usage: `usage: mailbox chaos inject --fault ${CHAOS_FAULTS.join('|')} [--duration 60s] [--target PATH] [--delay D] [--percent N] [--every D] [--admin URL] [--token T | --token-file F]`,
  details: `Injects a fault into the running server (POST /admin/chaos); it ends by itself after
--duration, or early with \`mailbox chaos clear\`. The server must run with chaos.enabled.

  --fault F        latency: every store commit --delay D later (e.g. 200ms); with --target socket,
                   every WebSocket write of the server instead
                   cpu: burn --percent N (default 60) of a core on the server's main thread
                   kill-actor: crash --target PATH (from \`mailbox tree\`), once, or every D with --every
                   bus-drop: the internal bus drops every event
                   storage-full: every store write fails as on a full disk
  --duration D     how long: 500ms, 60s, 5m, 1h (default 60s; a kill-actor without --every is one kill)
${TOKEN_HELP}`,
  options: INJECT_OPTIONS,
};

const CLEAR_OPTIONS = { ...ADMIN_OPTIONS, fault: { type: 'string' } } as const;

const CLEAR: CommandSpec<typeof CLEAR_OPTIONS> = {
  command: 'chaos clear',
  usage: 'usage: mailbox chaos clear [--fault F] [--admin URL] [--token T | --token-file F]',
  details: `Ends the injected faults early (DELETE /admin/chaos): all of them, or only --fault F.

${TOKEN_HELP}`,
  options: CLEAR_OPTIONS,
};

const FAULTS: CommandSpec<typeof ADMIN_OPTIONS> = {
  command: 'chaos faults',
  usage: 'usage: mailbox chaos faults [--admin URL] [--token T | --token-file F]',
  details: `Lists the faults active now, with the time left (GET /admin/chaos).

${TOKEN_HELP}`,
  options: ADMIN_OPTIONS,
};

export const CHAOS_SUBCOMMANDS = ['inject', 'clear', 'faults'] as const;

function duration(spec: CommandSpec<OptionSpecs>, flag: string, raw: string): number {
  const ms = parseDurationMs(raw);
  if (ms === undefined || ms <= 0) throw usageError(spec, `--${flag} must be a duration such as 500ms, 60s, 5m or 1h, got ${JSON.stringify(raw)}`);
  return ms;
}

function fault(spec: CommandSpec<OptionSpecs>, raw: string): string {
  if (!(CHAOS_FAULTS as readonly string[]).includes(raw)) throw usageError(spec, `--fault must be one of ${CHAOS_FAULTS.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw;
}

async function call(spec: CommandSpec<OptionSpecs>, values: Record<string, unknown>, method: string, query: string, body?: unknown): Promise<void> {
  const base = await adminUrl(spec, values);
  const result = await getJson(`${base}/admin/chaos${query}`, {
    method,
    headers: { authorization: `Bearer ${await targetToken(values)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ca: await targetCa(values),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

export async function chaosControl(sub: (typeof CHAOS_SUBCOMMANDS)[number], argv: string[]): Promise<void> {
  switch (sub) {
    case 'inject': {
      const args = parseCommand(INJECT, argv);
      if (!args) return;
      const v = args.values;
      if (v.fault === undefined) throw usageError(INJECT, `--fault is required (${CHAOS_FAULTS.join(', ')})`);
      const body: Record<string, unknown> = { fault: fault(INJECT, v.fault) };
      const oneShot = v.fault === 'kill-actor' && v.every === undefined;
      if (v.duration !== undefined) body.durationMs = duration(INJECT, 'duration', v.duration);
      else if (!oneShot) body.durationMs = 60_000;
      // The server checks which fault takes which field; the CLI only converts units.
      if (v.target !== undefined) body.target = v.target;
      if (v.delay !== undefined) body.delayMs = duration(INJECT, 'delay', v.delay);
      if (v.every !== undefined) body.everyMs = duration(INJECT, 'every', v.every);
      if (v.percent !== undefined) {
        const n = Number(v.percent);
        if (!Number.isSafeInteger(n)) throw usageError(INJECT, `--percent must be an integer from 1 to 100, got ${JSON.stringify(v.percent)}`);
        body.percent = n;
      }
      return call(INJECT, v, 'POST', '', body);
    }
    case 'clear': {
      const args = parseCommand(CLEAR, argv);
      if (!args) return;
      const f = args.values.fault;
      return call(CLEAR, args.values, 'DELETE', f === undefined ? '' : `?fault=${encodeURIComponent(fault(CLEAR, f))}`);
    }
    case 'faults': {
      const args = parseCommand(FAULTS, argv);
      if (!args) return;
      return call(FAULTS, args.values, 'GET', '');
    }
  }
}
