/**
 * Hot backup and restore of the LevelDB store. A backup directory holds `db/` (a LevelDB
 * with the same keys) and `manifest.json`.
 */
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MailboxError } from '../errors.ts';
import { FORMAT_VERSION } from './keys.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files.ts';

export interface BackupManifest {
  /** Store layout version (keys.ts). */
  format: string;
  /** Wall-clock ISO time the snapshot was taken. */
  createdAt: string;
  keys: number;
  bytes: number;
}

const COPY_CHUNK = 1000;

type AnyDb = ClassicLevel<string, Buffer>;

/**
 * Copies a consistent snapshot of `db` into `outDir/db`. An iterator reads from the
 * implicit snapshot taken when it is created, so writes made during the copy are not
 * in it and every batch is either wholly in it or not at all.
 */
export async function backupDb(db: AnyDb, outDir: string): Promise<BackupManifest> {
  await ensureEmpty(outDir);
  const createdAt = new Date().toISOString();
  const it = db.iterator<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' });
  const target = new ClassicLevel<Buffer, Buffer>(join(outDir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  let keys = 0;
  let bytes = 0;
  try {
    await target.open();
    for (;;) {
      const entries = await it.nextv(COPY_CHUNK);
      if (entries.length === 0) break;
      await target.batch(entries.map(([key, value]) => ({ type: 'put' as const, key, value })));
      keys += entries.length;
      for (const [k, v] of entries) bytes += k.length + v.length;
    }
    // One synced write flushes the log holding every unsynced batch before it.
    await target.put(Buffer.from('_/backup'), Buffer.from(createdAt), { sync: true });
  } catch (err) {
    throw new MailboxError('E_UNAVAILABLE', `storage: backup to ${outDir} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await it.close();
    await target.close();
  }
  const manifest: BackupManifest = { format: FORMAT_VERSION, createdAt, keys, bytes };
  await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
  return manifest;
}

/** Copies a backup's LevelDB into `toDir` and checks it against the manifest. */
export async function restoreBackup(fromDir: string, toDir: string): Promise<BackupManifest> {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(fromDir, 'manifest.json'), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new MailboxError('E_CONFIG', `${fromDir} is not a complete mailbox backup (no readable manifest.json)`, { cause: err });
  }
  if (manifest.format !== FORMAT_VERSION) {
    throw new MailboxError('E_CONFIG', `backup ${fromDir} has store format ${manifest.format}, this build reads ${FORMAT_VERSION}`);
  }
  await ensureEmpty(toDir);
  await cp(join(fromDir, 'db'), toDir, { recursive: true, filter: (src) => !src.endsWith('LOCK') });
  const db = new ClassicLevel<Buffer, Buffer>(toDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  let keys = 0;
  try {
    await db.open();
    await db.del(Buffer.from('_/backup'), { sync: true });
    const it = db.keys();
    try {
      for (;;) {
        const batch = await it.nextv(COPY_CHUNK);
        if (batch.length === 0) break;
        keys += batch.length;
      }
    } finally {
      await it.close();
    }
  } finally {
    await db.close();
  }
  if (keys !== manifest.keys) {
    await rm(toDir, { recursive: true, force: true });
    throw new MailboxError('E_INTERNAL', `restore from ${fromDir}: ${keys} keys copied, manifest says ${manifest.keys}`);
  }
  return manifest;
}

async function ensureEmpty(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const entries = await readdir(dir);
  if (entries.length > 0) throw new MailboxError('E_CONFIG', `${dir} is not empty; a backup or restore needs an empty directory`);
}
