import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { configFromEnv } from '../../src/config/env.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { MailboxError } from '../../src/errors.ts';
import { createStore } from '../../src/store/open-store.ts';
import { describeTarget } from '../../src/store/redis-client.ts';

const configError = (key: string) => (err: unknown) => err instanceof MailboxError && err.code === 'E_CONFIG' && err.message.includes(key);

describe('redis store configuration', () => {
  it('reads store and redis.* from the environment, the cluster as a comma-separated list', () => {
    const config = resolveConfig(configFromEnv({
      MAILBOX_STORE: 'redis',
      MAILBOX_REDIS__CLUSTER: '10.0.0.1:7000, 10.0.0.2:7001',
      MAILBOX_REDIS__PREFIX: 'prod-eu',
    }));
    assert.equal(config.store, 'redis');
    assert.deepEqual(config.redis.cluster, ['10.0.0.1:7000', '10.0.0.2:7001']);
    assert.equal(config.redis.prefix, 'prod-eu');
    assert.equal(config.redis.url, 'redis://127.0.0.1:6379', 'the default url stays');
  });

  it('defaults to LevelDB and builds the store the configuration names', () => {
    assert.equal(resolveConfig({}).store, 'level');
    const config = resolveConfig({ store: 'redis', redis: { url: 'redis://h:1' }, dataDir: '/nonexistent' });
    assert.equal(createStore(config).kind, 'redis');
    assert.equal(createStore({ ...config, amnesia: true }).kind, 'memory');
  });

  it('refuses what cannot work, naming the key', () => {
    assert.throws(() => resolveConfig({ store: 'redis', amnesia: true }), configError('store'));
    assert.throws(() => resolveConfig({ store: 'redis', profile: 'micronode' }), configError('store'));
    assert.throws(() => resolveConfig({ store: 'redis', redis: { url: 'http://h:1' } }), configError('redis.url'));
    assert.throws(() => resolveConfig({ store: 'redis', redis: { prefix: 'a{b}' } }), configError('redis.prefix'));
    assert.throws(() => resolveConfig({ store: 'redis', redis: { cluster: ['h:1'], waitReplicas: 1 } }), configError('redis.waitReplicas'));
    assert.throws(() => resolveConfig({ redis: { cluster: ['nohost'] } }), configError('redis.cluster'));
    assert.throws(() => resolveConfig({ store: 'sqlite' as never }), configError('store'));
    assert.throws(() => configFromEnv({ MAILBOX_STORE: 'postgres' }), configError('MAILBOX_STORE'));
  });

  it('describes the target without credentials', () => {
    assert.equal(describeTarget({ url: 'redis://admin:hunter2@cache.internal:6380/2', cluster: [] }), 'redis://cache.internal:6380/2');
    assert.equal(describeTarget({ url: 'rediss://:pw@h', cluster: [] }), 'rediss://h:6379');
    assert.equal(describeTarget({ url: 'x', cluster: ['a:1', 'b:2'] }), 'redis cluster a:1,b:2');
  });
});
