import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { keyToEnvName } from '../../src/config/env.ts';
import { CONFIG_RULES } from '../../src/config/resolve.ts';

it('docs/CONFIGURATION.md lists every key with its variable', () => {
  const doc = readFileSync(join(import.meta.dirname, '../../docs/CONFIGURATION.md'), 'utf8');
  for (const key of Object.keys(CONFIG_RULES)) {
    assert.ok(doc.includes(`| \`${key}\` |`), `${key} missing`);
    assert.ok(doc.includes(`\`${keyToEnvName(key)}\``), `${keyToEnvName(key)} missing`);
  }
});
