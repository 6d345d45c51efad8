import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ANY_TENANT, KeyRing, inspect, verify } from '../../src/auth/index.ts';
import { chainSignature, encodeToken, newTokenId } from '../../src/auth/token.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { DEFAULT_TENANT } from '../../src/domain/types.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { bootstrapKeys } from '../../src/transport/bootstrap-keys.ts';

const TENANT_X = 'a1'.repeat(16);

async function withDataDir(run: (dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailbox-bootstrap-'));
  try {
    await run(dataDir);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const logger = createLogger({ level: 'silent' });

test('the first-start admin token acts for every tenant (tenant=*), and a later start keeps it', async () => {
  await withDataDir(async (dataDir) => {
    const config = resolveConfig({ dataDir });
    const { ring, adminTokenFile } = await bootstrapKeys(config, logger);
    const token = (await readFile(adminTokenFile!, 'utf8')).trim();
    assert.deepEqual(inspect(token).caveats, [{ kind: 'tenant', tenant: ANY_TENANT }]);
    const cap = verify(ring, token, Date.now());
    cap.authorize('admin', undefined, TENANT_X);
    cap.authorize('admin', undefined, DEFAULT_TENANT);
    cap.authorize('admin');
    await bootstrapKeys(config, logger);
    assert.equal((await readFile(adminTokenFile!, 'utf8')).trim(), token, 'an existing tenant=* token file is kept');
  });
});

test('an admin token file from before the tenant rule (no tenant caveat) is replaced by a tenant=* one', async () => {
  await withDataDir(async (dataDir) => {
    const config = resolveConfig({ dataDir });
    const { ring, adminTokenFile } = await bootstrapKeys(config, logger);
    const bare = bareToken(ring);
    verify(ring, bare, Date.now()).authorize('admin', undefined, DEFAULT_TENANT);
    await writeFile(adminTokenFile!, `${bare}\n`);
    assert.deepEqual(inspect(bare).caveats, []);
    await bootstrapKeys(config, logger);
    const now = (await readFile(adminTokenFile!, 'utf8')).trim();
    assert.notEqual(now, bare);
    verify(ring, now, Date.now()).authorize('admin', undefined, TENANT_X);
  });
});

/** A validly signed token with no caveats, as the bootstrap wrote before mint signed the tenant in. */
function bareToken(ring: KeyRing): string {
  const { kid, secret } = ring.activeKey();
  const tokenId = newTokenId();
  return encodeToken({ tokenId, kid, caveats: [], sig: chainSignature(secret, tokenId, kid, []) });
}
