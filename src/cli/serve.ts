/**
 * `mailbox serve [--config FILE] [--listen H:P] [--metrics-addr H:P] [--amnesia] [--data-dir D]
 *  [--shards N] [--durability sync|relaxed] [--store level|redis] [--log-level L]`
 * Precedence: flags > environment > file > defaults. SIGHUP reloads the policy file. SIGINT/SIGTERM (or POST /admin/drain) drain, then exit 0;
 * a second signal later than SIGNAL_GRACE_MS after the first exits at once (see signalCounter).
 */
import type { DeepPartial, MailboxConfig } from '../config/config.ts';
import { loadConfig } from '../config/load.ts';
import { describeTarget } from '../store/redis-client.ts';
import { createLogger } from '../observability/logger.ts';
import { startServer } from '../transport/server.ts';
import { intValue, parseCommand, type CommandSpec, type OptionSpecs } from './args.ts';

const SERVE_OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string' },
  'metrics-addr': { type: 'string' },
  amnesia: { type: 'boolean' },
  'data-dir': { type: 'string' },
  shards: { type: 'string' },
  durability: { type: 'string' },
  store: { type: 'string' },
  'log-level': { type: 'string' },
} as const satisfies OptionSpecs;

export const SERVE: CommandSpec<typeof SERVE_OPTIONS> = {
  command: 'serve',
  usage: 'usage: mailbox serve [--config FILE] [--listen H:P] [--metrics-addr H:P] [--amnesia] [--data-dir D] [--shards N] [--durability sync|relaxed] [--store level|redis] [--log-level L]',
  details: `Runs the mailbox: the WebSocket port (listen) and the admin port (metricsAddr: /healthz,
/readyz, /metrics, /debug). Precedence: flags > environment (MAILBOX_*) > file > defaults.

  --config FILE        configuration module (npm start passes mailbox.config.ts)
  --listen H:P         WebSocket address (default 127.0.0.1:9410)
  --metrics-addr H:P   admin address (default 127.0.0.1:9600)
  --amnesia            RAM only (the micronode profile): nothing is written to disk
  --data-dir D         data directory (default ./var/mailbox)
  --shards N           shard count
  --durability M       sync | relaxed
  --store S            level (LevelDB under the data directory) | redis (redis.url or
                       redis.cluster, e.g. MAILBOX_REDIS__URL=redis://127.0.0.1:6379)
  --log-level L        fatal | error | warn | info | debug | trace | silent

SIGHUP reloads the policy file (policyFile), like \`mailbox policy reload\`.
SIGINT (Ctrl-C), SIGTERM or \`mailbox drain\` drains, then exits 0. A copy of the signal
that arrives within 1 s of the first is the same request (npm forwards the terminal's
Ctrl-C to the server, which also got it); a signal after that exits at once with code 1,
without draining.`,
  options: SERVE_OPTIONS,
};

/**
 * How long after the first SIGINT/SIGTERM another one counts as the same request. One Ctrl-C
 * under `npm start` reaches node twice: the terminal signals the whole foreground process
 * group (npm and node), and npm forwards its own copy to node. Both arrive within
 * milliseconds; a person who wants to stop waiting presses again later than this.
 */
export const SIGNAL_GRACE_MS = 1_000;

/** Classifies each shutdown signal by its arrival time: the first drains, copies within the grace repeat it, later ones force. */
export function signalCounter(graceMs = SIGNAL_GRACE_MS): (nowMs: number) => 'drain' | 'repeat' | 'force' {
  let firstAt: number | undefined;
  return (nowMs) => {
    if (firstAt === undefined) {
      firstAt = nowMs;
      return 'drain';
    }
    return nowMs - firstAt <= graceMs ? 'repeat' : 'force';
  };
}

export function serveFlags(argv: readonly string[]): { file?: string; flags: DeepPartial<MailboxConfig> } | undefined {
  const args = parseCommand(SERVE, argv);
  if (!args) return undefined;
  const v = args.values;
  const flags: DeepPartial<MailboxConfig> = {};
  if (v.listen !== undefined) flags.listen = v.listen;
  if (v['metrics-addr'] !== undefined) flags.metricsAddr = v['metrics-addr'];
  if (v.amnesia === true) {
    flags.amnesia = true;
    flags.profile = 'micronode';
  }
  if (v['data-dir'] !== undefined) flags.dataDir = v['data-dir'];
  const shards = intValue(SERVE, 'shards', v.shards);
  if (shards !== undefined) flags.shards = shards;
  if (v.durability !== undefined) flags.durability = v.durability as MailboxConfig['durability'];
  if (v.store !== undefined) flags.store = v.store as MailboxConfig['store'];
  if (v['log-level'] !== undefined) flags.logLevel = v['log-level'] as MailboxConfig['logLevel'];
  return v.config !== undefined ? { file: v.config, flags } : { flags };
}

export async function serve(argv: readonly string[]): Promise<void> {
  const parsed = serveFlags(argv);
  if (!parsed) return; // --help: nothing is loaded, started or written
  const { file, flags } = parsed;
  const config = await loadConfig({ env: process.env, flags, ...(file ? { file } : {}) });
  const logger = createLogger({ level: config.logLevel });
  logger.info({ event: 'config_loaded', profile: config.profile, amnesia: config.amnesia, shards: config.shards, durability: config.durability, dataDir: config.amnesia ? undefined : config.dataDir,
    store: config.amnesia ? 'memory' : config.store, ...(config.store === 'redis' && !config.amnesia ? { redis: describeTarget(config.redis), redisPrefix: config.redis.prefix } : {}) }, 'configuration loaded');
  if (config.amnesia && process.env.TSX_DISABLE_CACHE !== '1') {
    logger.warn({ event: 'tsx_cache_on' }, 'amnesia is on but the TypeScript loader may cache compiled sources in TMPDIR: for zero disk artifacts start through bin/mailbox.mjs (npm start, npx mailbox) with AMNESIA=on or --amnesia, or set TSX_DISABLE_CACHE=1');
  }
  const server = await startServer({ config, logger });
  server.mailbox.onFailure((reason) => {
    logger.fatal({ event: 'exit', code: 1, reason }, 'runtime failed, exiting so the process manager restarts the service');
    logger.flush(() => process.exit(1));
  });
  const signals = signalCounter();
  // One drain path for SIGINT/SIGTERM and POST /admin/drain (`mailbox drain`): drain, then exit 0.
  let draining = false;
  const drainAndExit = (): void => {
    if (draining) return;
    draining = true;
    server.drain().then(
      () => {
        logger.info({ event: 'exit', code: 0 }, 'drained, exiting');
        // pino writes asynchronously: exit only once every line is out, in order.
        logger.flush(() => process.exit(0));
      },
      (err: unknown) => {
        logger.error({ event: 'drain_failed', err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  server.onDrainRequest(drainAndExit);
  const onSignal = (signal: NodeJS.Signals): void => {
    const decision = signals(performance.now());
    if (decision === 'repeat') {
      // npm (and some process managers) forward the terminal's signal that node also got.
      logger.debug({ event: 'signal_repeated', signal }, `${signal} again within ${SIGNAL_GRACE_MS} ms: the same request, still draining`);
      return;
    }
    if (decision === 'force') {
      logger.warn({ event: 'forced_exit', signal }, 'second signal: exiting without drain');
      process.exit(1);
    }
    logger.info({ event: 'signal', signal }, `${signal}: draining`);
    drainAndExit();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP reloads the policy file (as `mailbox policy reload` does); the outcome is logged either way.
  process.on('SIGHUP', () => void server.mailbox.reloadPolicy('SIGHUP').catch(() => {}));
}
