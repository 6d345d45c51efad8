/**
 * `mailbox backup --out NAME [--admin URL] [--token …]`: asks the running server for a consistent
 * hot snapshot (store + signing keys) in NAME inside its backupDir.
 * `mailbox restore --from DIR [--data-dir D]`: puts one back; run it with the service stopped
 * and an empty data directory.
 */
import { access, copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LevelStore } from '../store/level.ts';
import { levelDir } from '../store/open-store.ts';
import { parseCommand, usageError, type CommandSpec } from './args.ts';
import { ADMIN_OPTIONS, CA_HELP, CONFIG_OPTIONS, adminUrl, cliConfig, getJson, targetCa, targetToken } from './common.ts';

const BACKUP_OPTIONS = { ...ADMIN_OPTIONS, out: { type: 'string' } } as const;

const BACKUP: CommandSpec<typeof BACKUP_OPTIONS> = {
  command: 'backup',
  usage: 'usage: mailbox backup --out NAME [--admin URL] [--ca FILE] [--token T | --token-file F] [--config FILE] [--data-dir D]',
  details: `Asks the running server for a consistent hot snapshot (store + signing keys) in the
directory NAME inside its backupDir (POST /admin/backup, with the admin token).

  --out NAME       the snapshot's directory inside the server's backupDir (sent as given)
  --admin URL      the admin port, default http://<metricsAddr> of the configuration
${CA_HELP}
  --token T        the admin token (else MAILBOX_TOKEN, --token-file / MAILBOX_TOKEN_FILE,
                   else <dataDir>/admin.token)
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`,
  options: BACKUP_OPTIONS,
};

const RESTORE_OPTIONS = { ...CONFIG_OPTIONS, from: { type: 'string' } } as const;

const RESTORE: CommandSpec<typeof RESTORE_OPTIONS> = {
  command: 'restore',
  usage: 'usage: mailbox restore --from DIR [--data-dir D] [--config FILE]',
  details: `Puts a snapshot made by \`mailbox backup\` back. Run it with the service stopped and an
empty data directory.

  --from DIR       the snapshot
  --data-dir D     the data directory to restore into (default: the configuration's)
  --config FILE    the configuration (default ./mailbox.config.ts if present)`,
  options: RESTORE_OPTIONS,
};

export async function backup(argv: string[]): Promise<void> {
  const args = parseCommand(BACKUP, argv);
  if (!args) return;
  const { out } = args.values;
  if (out === undefined) throw usageError(BACKUP, '--out DIR is required');
  const base = await adminUrl(BACKUP, args.values);
  const result = await getJson(`${base}/admin/backup?out=${encodeURIComponent(out)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await targetToken(args.values)}` },
    ca: await targetCa(args.values),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

export async function restore(argv: string[]): Promise<void> {
  const args = parseCommand(RESTORE, argv);
  if (!args) return;
  const { from } = args.values;
  if (from === undefined) throw usageError(RESTORE, '--from DIR is required');
  const config = await cliConfig(args.values);
  const manifest = await LevelStore.restore(join(from, 'store'), levelDir(config.dataDir));
  const keys = join(from, 'keys.json');
  if (await access(keys).then(() => true, () => false)) {
    await mkdir(config.dataDir, { recursive: true });
    await copyFile(keys, join(config.dataDir, 'keys.json'));
  }
  process.stdout.write(`${JSON.stringify({ restoredInto: config.dataDir, manifest }, null, 2)}\n`);
}
