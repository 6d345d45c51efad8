/**
 * Small JSON files the server keeps beside its store (`keys.json`, `revoked.json`): written
 * atomically (a 0600 temp file in the same directory, fsynced, then renamed over the old one,
 * so a crash leaves the old file or the new, never half of one), and read with errors that
 * name the file and what is wrong with it but never quote it: these files hold secrets.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MailboxError } from '../errors.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files.ts';

/** Replaces `path` with `text` atomically; the file is 0600 whatever the umask, its directory 0700 when created. */
export async function writePrivateAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.chmod(PRIVATE_FILE_MODE);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await handle.close().catch(() => undefined);
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // The rename is durable once the directory entry is.
  const d = await open(dir, 'r').catch(() => undefined);
  await d?.sync().catch(() => undefined);
  await d?.close();
}

/**
 * The parsed JSON of `path`, or undefined when the file does not exist. Any other failure is
 * `E_CONFIG` naming `what` and the path, and never the content (JSON.parse's own message
 * quotes the text it choked on).
 */
export async function readPrivateJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new MailboxError('E_CONFIG', `cannot read ${what} ${path}: ${code ?? 'read failed'}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new MailboxError('E_CONFIG', `${what} ${path} is not valid JSON (${text.length} bytes); restore it from a backup or remove it`);
  }
}
