import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { configFileFromEnv, configFromEnv, envNameToKey, keyToEnvName } from '../../src/config/env.ts';
import { CONFIG_RULES } from '../../src/config/resolve.ts';
import { MailboxError } from '../../src/errors.ts';

function configError(name: string) {
  return (err: unknown) => err instanceof MailboxError && err.code === 'E_CONFIG' && err.message.includes(name);
}

describe('configFromEnv', () => {
  it('maps the runbook names and MAILBOX_<KEY> to keys, parsing by rule', () => {
    const layer = configFromEnv({
      MAILBOX_LISTEN: '0.0.0.0:9410',
      METRICS_ADDR: '0.0.0.0:9600',
      LOG_LEVEL: 'debug',
      MAILBOX_DATA_DIR: '/srv/mailbox',
      MAILBOX_SHARDS: '16',
      MAILBOX_DURABILITY: 'relaxed',
      MAILBOX_QUEUE__MAX_ATTEMPTS: '7',
      MAILBOX_AUTH__CAP_CACHE_TTL_MS: '1_000',
      MAILBOX_AUTH__ADMIN_TOKEN_FILE: '',
      RON_CONFIG: './mailbox.config.ts',
      PATH: '/usr/bin',
      HOME: '/root',
    });
    assert.deepEqual(layer, {
      listen: '0.0.0.0:9410',
      metricsAddr: '0.0.0.0:9600',
      logLevel: 'debug',
      dataDir: '/srv/mailbox',
      shards: 16,
      durability: 'relaxed',
      queue: { maxAttempts: 7 },
      auth: { capCacheTtlMs: 1000, adminTokenFile: '' },
    });
  });

  it('has a variable for every key, and the names round-trip', () => {
    for (const key of Object.keys(CONFIG_RULES)) {
      const name = keyToEnvName(key);
      assert.equal(envNameToKey(name.slice('MAILBOX_'.length)), key, name);
    }
    assert.equal(keyToEnvName('queue.maxAttempts'), 'MAILBOX_QUEUE__MAX_ATTEMPTS');
  });

  it('fails naming an unknown MAILBOX_ variable', () => {
    assert.throws(() => configFromEnv({ MAILBOX_QUEUE__MAX_ATTEMPT: '3' }), configError('MAILBOX_QUEUE__MAX_ATTEMPT'));
    assert.throws(() => configFromEnv({ MAILBOX_QUEUE: '3' }), configError('MAILBOX_QUEUE'));
    assert.throws(() => configFromEnv({ MAILBOX_CONSTRUCTOR: '3' }), configError('MAILBOX_CONSTRUCTOR'));
    assert.throws(() => configFromEnv({ MAILBOX_queue__maxAttempts: '3' }), configError('MAILBOX_queue__maxAttempts'));
  });

  it('leaves the client variables MAILBOX_TOKEN, MAILBOX_TOKEN_FILE and MAILBOX_URL to the clients that read them', () => {
    assert.deepEqual(configFromEnv({ MAILBOX_TOKEN: 'mbx1.x', MAILBOX_TOKEN_FILE: '/run/mailbox.token', MAILBOX_URL: 'ws://127.0.0.1:9410' }), {});
  });

  it('fails naming the variable whose value does not parse or is out of range', () => {
    assert.throws(() => configFromEnv({ MAILBOX_SHARDS: 'eight' }), configError('MAILBOX_SHARDS'));
    assert.throws(() => configFromEnv({ MAILBOX_SHARDS: '1000' }), configError('MAILBOX_SHARDS'));
    assert.throws(() => configFromEnv({ MAILBOX_SHARDS: '1.5' }), configError('MAILBOX_SHARDS'));
    assert.throws(() => configFromEnv({ MAILBOX_DURABILITY: 'eventually' }), configError('MAILBOX_DURABILITY'));
    assert.throws(() => configFromEnv({ AMNESIA: 'maybe' }), configError('AMNESIA'));
    assert.throws(() => configFromEnv({ LOG_LEVEL: 'loud' }), configError('LOG_LEVEL'));
  });

  it('AMNESIA=on implies profile micronode, off implies macronode', () => {
    assert.deepEqual(configFromEnv({ AMNESIA: 'on' }), { amnesia: true, profile: 'micronode' });
    assert.deepEqual(configFromEnv({ AMNESIA: 'off' }), { amnesia: false, profile: 'macronode' });
  });

  it('fails when two variables set one key differently', () => {
    assert.throws(() => configFromEnv({ AMNESIA: 'on', MAILBOX_PROFILE: 'macronode' }), configError('AMNESIA'));
    assert.deepEqual(configFromEnv({ METRICS_ADDR: '1.2.3.4:5', MAILBOX_METRICS_ADDR: '1.2.3.4:5' }), { metricsAddr: '1.2.3.4:5' });
  });

  it('parses auth.keys as kid=base64 pairs or JSON', () => {
    const secret = Buffer.alloc(32, 7).toString('base64');
    assert.deepEqual(configFromEnv({ MAILBOX_AUTH__KEYS: `k1=${secret},k2=${secret}` }), { auth: { keys: { k1: secret, k2: secret } } });
    assert.deepEqual(configFromEnv({ MAILBOX_AUTH__KEYS: JSON.stringify({ k1: secret }) }), { auth: { keys: { k1: secret } } });
  });

  it('treats an empty variable as unset', () => {
    assert.deepEqual(configFromEnv({ LOG_LEVEL: '', MAILBOX_SHARDS: '' }), {});
  });

  it('reads the config file path from RON_CONFIG', () => {
    assert.equal(configFileFromEnv({ RON_CONFIG: '/etc/mailbox.config.ts' }), '/etc/mailbox.config.ts');
    assert.equal(configFileFromEnv({}), undefined);
  });
});
