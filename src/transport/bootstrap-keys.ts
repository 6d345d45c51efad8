/**
 * Where the server's signing keys come from. Configured keys win. Otherwise, on first start,
 * a key is generated and kept in `<dataDir>/keys.json` (mode 0600), and an admin token is
 * written to `auth.adminTokenFile` (default `<dataDir>/admin.token`, mode 0600); only the
 * path is logged. In amnesia mode nothing is written unless the operator named a token file.
 * The admin token is the operators' cross-tenant token (`tenant=*`): `mailbox dlq --tenant X`
 * and backups use it. A token file from before that rule (no tenant caveat, so now the
 * default tenant's only) is replaced by a fresh one.
 *
 * A keys.json that exists but cannot be read or is invalid stops the start (E_CONFIG naming
 * the file, never quoting it): nothing verifies without the ring (fail closed). The same goes
 * for `<dataDir>/revoked.json`, the deny list (revocations.ts).
 */
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ANY_TENANT, generateKey, inspect, KeyRing, mint } from '../auth/index.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MailboxEvents } from '../bus/events.ts';
import type { MailboxConfig } from '../config/config.ts';
import { MailboxError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { readKeyFile, ringFromKeyFile, writeKeyFile, type KeyFileData } from './key-file.ts';
import { KeyRotation, type KeyRotationOptions } from './key-rotation.ts';
import { REVOKED_FILE, Revocations } from './revocations.ts';

export interface KeyBootstrap {
  ring: KeyRing;
  /** Where the admin token was written on this or an earlier start, if anywhere. */
  adminTokenFile?: string;
  /** `mailbox keys rotate|list` (admin-governance.ts). */
  rotation: KeyRotation;
  /** The deny list (`mailbox token revoke`); give `revocations.list` to the Authorizer. */
  revocations: Revocations;
}

export interface BootstrapOptions {
  /** Where `caps.rotate` is published. */
  bus?: EventBus<MailboxEvents>;
  /** Wall-clock ms; default Date.now. */
  clock?: () => number;
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

/** A ring from keys.json; a secret or KID it refuses is named with the file. */
function ringFromFile(data: KeyFileData, path: string, now: number): KeyRing {
  try {
    return ringFromKeyFile(data, now);
  } catch (err) {
    if (err instanceof MailboxError) throw new MailboxError('E_CONFIG', `signing key file ${path}: ${err.message}`);
    throw err;
  }
}

export async function bootstrapKeys(config: MailboxConfig, logger: Logger, options: BootstrapOptions = {}): Promise<KeyBootstrap> {
  const clock = options.clock ?? Date.now;
  const tokenFile = config.auth.adminTokenFile || (config.amnesia ? '' : join(config.dataDir, 'admin.token'));
  const governed = async (ring: KeyRing, source: KeyRotationOptions['source']): Promise<Pick<KeyBootstrap, 'ring' | 'rotation' | 'revocations'>> => ({
    ring,
    rotation: new KeyRotation({ ring, source, logger, clock, ...(options.bus ? { bus: options.bus } : {}), ...(tokenFile ? { adminTokenFile: tokenFile } : {}) }),
    revocations: await Revocations.open({ ring, logger, clock, ...(config.amnesia ? {} : { path: join(config.dataDir, REVOKED_FILE) }) }),
  });
  if (Object.keys(config.auth.keys).length > 0) {
    return governed(KeyRing.fromConfig(config.auth), { kind: 'config' });
  }
  let keys: Pick<KeyBootstrap, 'ring' | 'rotation' | 'revocations'>;
  if (config.amnesia) {
    const secret = generateKey();
    const data: KeyFileData = { activeKid: config.auth.activeKid, keys: { [config.auth.activeKid]: secret }, info: { [config.auth.activeKid]: { createdAt: clock() } } };
    keys = await governed(new KeyRing(config.auth.activeKid, secret), { kind: 'memory', data });
  } else {
    const keysFile = join(config.dataDir, 'keys.json');
    let data = await readKeyFile(keysFile);
    if (data === undefined) {
      data = { activeKid: config.auth.activeKid, keys: { [config.auth.activeKid]: generateKey() }, info: { [config.auth.activeKid]: { createdAt: clock() } } };
      await writeKeyFile(keysFile, data);
      logger.info({ event: 'key_created', kid: config.auth.activeKid, path: keysFile }, 'created a signing key');
    }
    keys = await governed(ringFromFile(data, keysFile, clock()), { kind: 'file', path: keysFile, data });
  }
  const { ring } = keys;
  if (!tokenFile) {
    logger.warn({ event: 'no_admin_token' }, 'amnesia mode with no auth.keys: an ephemeral key signs tokens and no token file was written; set auth.adminTokenFile (or MAILBOX_AUTH__ADMIN_TOKEN_FILE) to get an admin token');
    return keys;
  }
  if (config.amnesia || !(await exists(tokenFile)) || !(await hasTenantCaveat(tokenFile))) {
    await writePrivate(tokenFile, `${mint(ring, { caveats: [{ kind: 'tenant', tenant: ANY_TENANT }] })}\n`);
    logger.info({ event: 'admin_token_written', path: tokenFile, kid: ring.active }, `admin token written to ${tokenFile}`);
  }
  return { ...keys, adminTokenFile: tokenFile };
}
