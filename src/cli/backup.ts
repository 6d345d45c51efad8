/**
 * `mailbox backup --out DIR [--admin URL] [--token …]`: asks the running server for a consistent
 * hot snapshot (store + signing keys). `mailbox restore --from DIR [--data-dir D]`: puts one back;
 * run it with the service stopped and an empty data directory.
 */
import { access, copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MailboxError } from '../errors.ts';
import { LevelStore } from '../store/level.ts';
import { levelDir } from '../store/open-store.ts';
import { parseArgs, stringOption } from './args.ts';
import { adminUrl, cliConfig, getJson, token } from './common.ts';

export async function backup(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const out = stringOption(args, 'out');
  if (!out) throw new MailboxError('E_SCHEMA', 'usage: mailbox backup --out DIR');
  const result = await getJson(`${await adminUrl(args)}/admin/backup?out=${encodeURIComponent(resolve(out))}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token(args)}` },
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

export async function restore(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const from = stringOption(args, 'from');
  if (!from) throw new MailboxError('E_SCHEMA', 'usage: mailbox restore --from DIR [--data-dir D]');
  const config = await cliConfig(args);
  const manifest = await LevelStore.restore(join(from, 'store'), levelDir(config.dataDir));
  const keys = join(from, 'keys.json');
  if (await access(keys).then(() => true, () => false)) {
    await mkdir(config.dataDir, { recursive: true });
    await copyFile(keys, join(config.dataDir, 'keys.json'));
  }
  process.stdout.write(`${JSON.stringify({ restoredInto: config.dataDir, manifest }, null, 2)}\n`);
}
