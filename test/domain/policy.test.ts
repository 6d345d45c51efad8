import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { activePresets, limitsFor, parsePolicy, policyDiff, PRESET_MAX_MS, type Policy } from '../../src/domain/policy.ts';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const T1 = 'a'.repeat(32);
const T2 = 'b'.repeat(32);

function ok(text: string): Policy {
  const r = parsePolicy(text, NOW);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  return r.policy;
}

describe('policy document', () => {
  it('reads defaults, tenants and presets; a tenant inherits what it does not set', () => {
    const p = ok(JSON.stringify({
      defaults: { sendPerSecond: 100, burstSeconds: 2, maxQueued: 10_000 },
      tenants: { [T1]: { sendPerSecond: 500, sendBytesPerSecond: 1_048_576, maxOpenLeases: 50 } },
      presets: { 'brownout-1': { scale: 0.5, expiresAt: '2026-12-03T13:00:00Z' } },
    }));
    assert.deepEqual(limitsFor(p, T2, NOW + 3_600_001), { sendPerSecond: 100, sendBytesPerSecond: 0, burstSeconds: 2, maxQueued: 10_000, maxOpenLeases: 0 });
    assert.deepEqual(limitsFor(p, T1, NOW + 3_600_001), { sendPerSecond: 500, sendBytesPerSecond: 1_048_576, burstSeconds: 2, maxQueued: 10_000, maxOpenLeases: 50 });
    assert.deepEqual(
      limitsFor(p, T1, NOW), { sendPerSecond: 250, sendBytesPerSecond: 524_288, burstSeconds: 2, maxQueued: 10_000, maxOpenLeases: 50 },
      'the preset halves every rate while it lasts, not the bounds on what is held',
    );
    assert.deepEqual(activePresets(p, NOW + 600_000), [{ name: 'brownout-1', scale: 0.5, leftMs: 3_000_000 }]);
    assert.deepEqual(activePresets(p, NOW + 3_600_000), [], 'it ends by itself');
  });

  it('names every problem with its key and line', () => {
    const text = `{
  "defaults": { "sendPerSecond": -1 },
  "tenants": {
    "not-a-tenant": { "sendPerSecond": 5 },
    "${T1}": { "sendPerSec": 5 }
  },
  "presets": { "brownout-1": { "scale": 2, "expiresAt": "2026-12-03T20:00:00Z" } },
  "extra": true
}`;
    const r = parsePolicy(text, NOW);
    assert.ok(!r.ok);
    const got = r.problems.map((p) => [p.key, p.line]);
    assert.deepEqual(got.sort(), [
      ['defaults.sendPerSecond', 2],
      ['extra', 8],
      ['presets.brownout-1.expiresAt', 7],
      ['presets.brownout-1.scale', 7],
      [`tenants.${T1}.sendPerSec`, 5],
      ['tenants.not-a-tenant', 4],
    ].sort());
    assert.match(r.problems.find((p) => p.key === 'presets.brownout-1.expiresAt')!.message, /more than 2 hours/);
  });

  it('takes the bounds on what a tenant holds as whole numbers', () => {
    const r = parsePolicy(JSON.stringify({ defaults: { maxQueued: 1.5 }, tenants: { [T1]: { maxOpenLeases: -1 } } }), NOW);
    assert.ok(!r.ok);
    assert.deepEqual(r.problems.map((p) => p.key).sort(), ['defaults.maxQueued', `tenants.${T1}.maxOpenLeases`]);
    assert.match(r.problems[0]!.message, /whole number/);
    const p = ok(JSON.stringify({ tenants: { [T1]: { maxQueued: 0, maxOpenLeases: 3 } } }));
    assert.equal(limitsFor(p, T1, NOW).maxOpenLeases, 3);
  });

  it('says where a document is not JSON', () => {
    const r = parsePolicy('{\n  "defaults": {\n    "sendPerSecond": 5,\n  }\n}', NOW);
    assert.ok(!r.ok);
    assert.equal(r.problems[0]!.key, '(document)');
    assert.equal(r.problems[0]!.line, 4);
  });

  it('diffs two policies for the audit log, tenants shortened', () => {
    const a = ok(JSON.stringify({ tenants: { [T1]: { sendPerSecond: 5 } } }));
    const b = ok(JSON.stringify({ defaults: { sendPerSecond: 9 }, tenants: { [T2]: { sendPerSecond: 7 } } }));
    assert.deepEqual(policyDiff(a, b), [
      'defaults.sendPerSecond: 0 → 9',
      'tenants.aaaaaaaa….sendPerSecond: - 5',
      'tenants.bbbbbbbb….sendPerSecond: + 7',
    ]);
    assert.deepEqual(policyDiff(a, a), []);
  });

  it('property: presets only lower limits, and once every preset expired the limits are the unscaled ones', () => {
    fc.assert(fc.property(
      fc.nat({ max: 10_000 }), fc.nat({ max: 10_000 }),
      fc.array(fc.record({ scale: fc.double({ min: 0.01, max: 1, noNaN: true }), inMs: fc.integer({ min: 1, max: PRESET_MAX_MS }) }), { maxLength: 4 }),
      fc.nat({ max: PRESET_MAX_MS + 10 }),
      (rate, bytes, presets, at) => {
        const doc = {
          defaults: { sendPerSecond: rate, sendBytesPerSecond: bytes },
          presets: Object.fromEntries(presets.map((p, i) => [`p-${i}`, { scale: p.scale, expiresAt: new Date(NOW + p.inMs).toISOString() }])),
        };
        const p = ok(JSON.stringify(doc));
        const now = limitsFor(p, T1, NOW + at);
        assert.ok(now.sendPerSecond <= rate && now.sendBytesPerSecond <= bytes);
        assert.deepEqual(limitsFor(p, T1, NOW + PRESET_MAX_MS + 1), { sendPerSecond: rate, sendBytesPerSecond: bytes, burstSeconds: 1, maxQueued: 0, maxOpenLeases: 0 });
      },
    ));
  });
});
