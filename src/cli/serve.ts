/**
 * `mailbox serve [--config FILE] [--listen H:P] [--metrics-addr H:P] [--amnesia] [--data-dir D]
 *  [--shards N] [--durability sync|relaxed] [--log-level L]`
 * Precedence: flags > environment > file > defaults. SIGINT/SIGTERM drain, then exit 0;
 * a second signal exits at once.
 */
import type { DeepPartial, MailboxConfig } from '../config/config.ts';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../observability/logger.ts';
import { startServer } from '../transport/server.ts';
import { intOption, parseArgs, stringOption } from './args.ts';

export function serveFlags(argv: readonly string[]): { file?: string; flags: DeepPartial<MailboxConfig> } {
  const args = parseArgs(argv, new Set(['amnesia']));
  const flags: DeepPartial<MailboxConfig> = {};
  const listen = stringOption(args, 'listen');
  if (listen) flags.listen = listen;
  const metrics = stringOption(args, 'metrics-addr');
  if (metrics) flags.metricsAddr = metrics;
  if (args.options.get('amnesia') === true) {
    flags.amnesia = true;
    flags.profile = 'micronode';
  }
  const dataDir = stringOption(args, 'data-dir');
  if (dataDir) flags.dataDir = dataDir;
  const shards = intOption(args, 'shards');
  if (shards !== undefined) flags.shards = shards;
  const durability = stringOption(args, 'durability');
  if (durability) flags.durability = durability as MailboxConfig['durability'];
  const logLevel = stringOption(args, 'log-level');
  if (logLevel) flags.logLevel = logLevel as MailboxConfig['logLevel'];
  const file = stringOption(args, 'config');
  return file ? { file, flags } : { flags };
}

export async function serve(argv: readonly string[]): Promise<void> {
  const { file, flags } = serveFlags(argv);
  const config = await loadConfig({ env: process.env, flags, ...(file ? { file } : {}) });
  const logger = createLogger({ level: config.logLevel });
  logger.info({ event: 'config_loaded', profile: config.profile, amnesia: config.amnesia, shards: config.shards, durability: config.durability, dataDir: config.amnesia ? undefined : config.dataDir }, 'configuration loaded');
  if (config.amnesia && process.env.TSX_DISABLE_CACHE !== '1') {
    logger.warn({ event: 'tsx_cache_on' }, 'amnesia is on but the TypeScript loader may cache compiled sources in TMPDIR: for zero disk artifacts start through bin/mailbox.mjs (npm start, npx mailbox) with AMNESIA=on or --amnesia, or set TSX_DISABLE_CACHE=1');
  }
  const server = await startServer({ config, logger });
  server.mailbox.onFailure((reason) => {
    logger.fatal({ event: 'exit', code: 1, reason }, 'runtime failed, exiting so the process manager restarts the service');
    logger.flush(() => process.exit(1));
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ event: 'forced_exit', signal }, 'second signal: exiting without drain');
      process.exit(1);
    }
    logger.info({ event: 'signal', signal }, `${signal}: draining`);
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
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
