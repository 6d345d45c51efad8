/**
 * Files the mailbox writes hold payloads and keys: directories are 0700 and files 0600,
 * whatever the process umask. LevelDB (C++) creates its files with the umask's mode, so the
 * directory holding them is made 0700 before it opens (others cannot reach them whatever
 * their mode) and the files are tightened to 0600 after. The umask itself is left alone: it
 * is process-wide, and changing it around an open would race every other write.
 */
import { chmod, lstat, mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MailboxError } from '../errors.ts';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Creates `dir` (and missing parents) 0700, or checks the one that exists: a data directory
 * others may write to lets them replace the store or the keys, so it is refused (E_CONFIG).
 */
export async function preparePrivateDir(dir: string, what = 'data dir'): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = await stat(dir);
  if (!st.isDirectory()) throw new MailboxError('E_CONFIG', `${what} ${dir} is not a directory`);
  if ((st.mode & 0o022) !== 0) {
    throw new MailboxError('E_CONFIG', `${what} ${dir} is group- or world-writable (mode ${octal(st.mode)}): chmod 700 ${dir}`);
  }
}

/** Directories under (and including) `root` to 0700, files to 0600; symbolic links are not followed. */
export async function tightenTree(root: string): Promise<void> {
  const st = await lstat(root).catch(() => undefined);
  if (!st || st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    if ((st.mode & 0o777) !== PRIVATE_DIR_MODE) await chmod(root, PRIVATE_DIR_MODE).catch(unlessGone);
    for (const name of await readdir(root).catch((err: unknown) => (unlessGone(err), []))) await tightenTree(join(root, name));
  } else if (st.isFile() && (st.mode & 0o777) !== PRIVATE_FILE_MODE) {
    await chmod(root, PRIVATE_FILE_MODE).catch(unlessGone);
  }
}

/**
 * A file that vanished between the listing and the chmod is no file to tighten: LevelDB's
 * compaction deletes table files while an open store is walked (seen in CI: ENOENT on a .ldb).
 */
function unlessGone(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}

function refuse(name: string, why: string): never {
  throw new MailboxError('E_SCHEMA', `out: ${JSON.stringify(name)} ${why}`);
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * The directory a backup named `name` goes to: a relative path inside `backupDir` (or an
 * absolute one that lies inside it). `..` segments, paths outside it and symbolic links that
 * lead out of it are refused with E_SCHEMA. Creates `backupDir` 0700 when missing.
 */
export async function resolveBackupTarget(backupDir: string, name: string): Promise<string> {
  if (name.trim() === '') refuse(name, 'is empty; name a backup directory inside backupDir');
  if (name.includes('\0')) refuse(name, 'contains a NUL byte');
  await mkdir(backupDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const root = await realpath(backupDir);
  const base = resolve(backupDir);
  if (!isAbsolute(name) && name.split(/[\\/]/).includes('..')) refuse(name, 'may not contain ".." (backups stay inside backupDir)');
  const target = isAbsolute(name) ? resolve(name) : resolve(base, name);
  if (target === base || target === root) refuse(name, 'names backupDir itself; name a directory inside it');
  if (!inside(base, target) && !inside(root, target)) refuse(name, `is outside backupDir ${base}`);
  // The deepest part of the path that exists must really be inside backupDir (no symlink out of it).
  let existing = target;
  for (;;) {
    const found = await lstat(existing).then(() => true, () => false);
    if (found) break;
    existing = dirname(existing);
  }
  const real = await realpath(existing);
  if (real !== root && !inside(root, real)) refuse(name, `leads outside backupDir ${base} through a symbolic link`);
  return join(real, relative(existing, target));
}
