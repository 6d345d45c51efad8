import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { GOLDEN_METRICS } from '../../src/observability/metrics.ts';

const text = readFileSync(join(import.meta.dirname, '../../ops/alerts.yaml'), 'utf8');
const rules = text.split(/^\s+- alert: /m).slice(1);

it('every alert rule has summary, description and a runbook anchor in docs/OPERATIONS.md', () => {
  assert.ok(rules.length >= 10);
  for (const rule of rules) {
    const name = rule.split('\n')[0]!;
    assert.match(rule, /^\s+summary: /m, name);
    assert.match(rule, /^\s+description: /m, name);
    assert.match(rule, /^\s+runbook_url: "docs\/OPERATIONS\.md#[a-z0-9-]+"$/m, name);
    assert.match(rule, /^\s+severity: (warning|critical)$/m, name);
  }
});

it('alert expressions use only golden metrics (and up)', () => {
  // The expr blocks, without label matchers, `by (...)` lists, ranges and strings; what is left are metric names and PromQL words.
  const exprs = [...text.matchAll(/^\s+expr: (\|\n(?:\s{10,}.*\n)+|.*\n)/gm)].map((m) => m[1]!).join('\n');
  const stripped = exprs.replace(/\{[^}]*\}/g, '').replace(/\bby \([^)]*\)/g, '').replace(/\[[^\]]*\]/g, '').replace(/"[^"]*"/g, '');
  const promql = new Set(['sum', 'rate', 'increase', 'histogram_quantile', 'and', 'or', 'unless']);
  const used = new Set<string>();
  for (const m of stripped.matchAll(/\b[a-z_]+\b/g)) if (!promql.has(m[0])) used.add(m[0].replace(/_bucket$/, ''));
  for (const name of used) assert.ok(name === 'up' || (GOLDEN_METRICS as readonly string[]).includes(name), `${name} is not a golden metric`);
  for (const name of ['requests_total', 'request_latency_seconds', 'rejected_total', 'dlq_writes_total', 'dlq_depth', 'visibility_timeouts_total', 'bus_overflow_dropped_total', 'integrity_fail_total', 'service_restarts_total']) {
    assert.ok(used.has(name), `${name} has no alert`);
  }
});
