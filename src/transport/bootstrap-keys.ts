/**
 * Where the server's signing keys come from. Configured keys win. Otherwise, on first start,
 * a key is generated and kept in `<dataDir>/keys.json` (mode 0600), and an admin token is
 * written to `auth.adminTokenFile` (default `<dataDir>/admin.token`, mode 0600); only the
 * path is logged. In amnesia mode nothing is written unless the operator named a token file.
 * The admin token is the operators' cross-tenant token (`tenant=*`): `mailbox dlq --tenant X`
 * and backups use it. A token file from before that rule (no tenant caveat, so now the
 * default tenant's only) is replaced by a fresh one.
 */
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ANY_TENANT, generateKey, inspect, KeyRing, mint } from '../auth/index.ts';
import type { MailboxConfig } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';

export interface KeyBootstrap {
  ring: KeyRing;
  /** Where the admin token was written on this or an earlier start, if anywhere. */
  adminTokenFile?: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function writePrivate(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, text, { mode: 0o600, flag: 'w' });
}

/** Whether the token in `path` carries a tenant caveat (was minted under the tenant rule); a file that is not a token is left alone. */
async function hasTenantCaveat(path: string): Promise<boolean> {
  try {
    return inspect((await readFile(path, 'utf8')).trim()).caveats.some((c) => c.kind === 'tenant');
  } catch {
    return true;
  }
}

export async function bootstrapKeys(config: MailboxConfig, logger: Logger): Promise<KeyBootstrap> {
  if (Object.keys(config.auth.keys).length > 0) {
    return { ring: KeyRing.fromConfig(config.auth) };
  }
  const tokenFile = config.auth.adminTokenFile || (config.amnesia ? '' : join(config.dataDir, 'admin.token'));
  let ring: KeyRing;
  if (config.amnesia) {
    ring = new KeyRing(config.auth.activeKid, generateKey());
  } else {
    const keysFile = join(config.dataDir, 'keys.json');
    if (await exists(keysFile)) {
      const stored = JSON.parse(await readFile(keysFile, 'utf8')) as { activeKid: string; keys: Record<string, string> };
      ring = KeyRing.fromConfig(stored);
    } else {
      const secret = generateKey();
      await writePrivate(keysFile, JSON.stringify({ activeKid: config.auth.activeKid, keys: { [config.auth.activeKid]: secret } }));
      ring = new KeyRing(config.auth.activeKid, secret);
      logger.info({ event: 'key_created', kid: config.auth.activeKid, path: keysFile }, 'created a signing key');
    }
  }
  if (!tokenFile) {
    logger.warn({ event: 'no_admin_token' }, 'amnesia mode with no auth.keys: an ephemeral key signs tokens and no token file was written; set auth.adminTokenFile (or MAILBOX_AUTH__ADMIN_TOKEN_FILE) to get an admin token');
    return { ring };
  }
  if (config.amnesia || !(await exists(tokenFile)) || !(await hasTenantCaveat(tokenFile))) {
    await writePrivate(tokenFile, `${mint(ring, { caveats: [{ kind: 'tenant', tenant: ANY_TENANT }] })}\n`);
    logger.info({ event: 'admin_token_written', path: tokenFile, kid: ring.active }, `admin token written to ${tokenFile}`);
  }
  return { ring, adminTokenFile: tokenFile };
}
