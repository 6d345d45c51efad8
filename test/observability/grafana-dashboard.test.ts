import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startTestServer } from '../integration/helpers/server.ts';

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}
interface Dashboard {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; definition?: string }> };
}

const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '../../ops/grafana-dashboard.json'), 'utf8')) as Dashboard;
/** Rows only lay the panels out: they have a title but no query. */
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

// Words of PromQL that are not metric names when they are not followed by `(`.
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
/** Followed by a parenthesised list of label names, not of expressions. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** Skips from `open` at `i` to just past its matching `close` (strings inside are skipped whole). */
function skipGroup(expr: string, i: number, open: string, close: string): number {
  let depth = 0;
  for (; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') i = skipString(expr, i) - 1;
    else if (c === open) depth++;
    else if (c === close && --depth === 0) return i + 1;
  }
  throw new Error(`unbalanced ${open} in ${expr}`);
}

function skipString(expr: string, i: number): number {
  const quote = expr[i]!;
  for (let j = i + 1; j < expr.length; j++) {
    if (expr[j] === '\\' && quote !== '`') j++;
    else if (expr[j] === quote) return j + 1;
  }
  throw new Error(`unterminated string in ${expr}`);
}

/**
 * The metric names a PromQL expression selects: identifiers not followed by `(` (functions,
 * aggregations), outside label matchers `{…}`, ranges `[…]`, strings, `by (…)`-style label
 * lists and Grafana variables (`$__rate_interval`, `${x}`), and not PromQL keywords.
 */
function metricNames(expr: string): string[] {
  const names: string[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') i = skipString(expr, i);
    else if (c === '{') i = skipGroup(expr, i, '{', '}');
    else if (c === '[') i = skipGroup(expr, i, '[', ']');
    else if (c === '$') {
      i++;
      if (expr[i] === '{') i = skipGroup(expr, i, '{', '}');
      else while (i < expr.length && /\w/.test(expr[i]!)) i++;
    } else if (/[0-9.]/.test(c)) {
      // A number or a duration (0.99, 1e3, 5m): letters that follow belong to it.
      while (i < expr.length && /[\w.]/.test(expr[i]!)) i++;
    } else if (/[A-Za-z_:]/.test(c)) {
      const start = i;
      while (i < expr.length && /[\w:]/.test(expr[i]!)) i++;
      const word = expr.slice(start, i);
      let next = i;
      while (next < expr.length && /\s/.test(expr[next]!)) next++;
      if (LABEL_LISTS.has(word)) {
        if (expr[next] === '(') i = skipGroup(expr, next, '(', ')');
      } else if (expr[next] !== '(' && !AGGREGATIONS.has(word) && !KEYWORDS.has(word.toLowerCase())) {
        names.push(word);
      }
    } else i++;
  }
  return names;
}

/** `x_bucket`, `x_sum`, `x_count` → `x` when `x` is a histogram (or summary) family of the scrape. */
function family(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = types.get(base);
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base;
  }
  return undefined;
}

/** Every PromQL expression of the dashboard, with where it is: panel targets and query variables. */
function expressions(): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const panel of queryPanels) for (const t of panel.targets ?? []) out.push({ where: `panel "${panel.title}"`, expr: t.expr ?? '' });
  for (const v of dashboard.templating.list) {
    // label_values(<selector>, <label>): only the selector is PromQL.
    const m = v.definition?.match(/^label_values\((.*),\s*\w+\)$/);
    if (m) out.push({ where: `variable $${v.name}`, expr: m[1]! });
  }
  return out;
}

describe('ops/grafana-dashboard.json', () => {
  it('the metric-name tokenizer skips functions, label matchers, label lists, ranges, numbers and variables', () => {
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (method, le) (rate(request_latency_seconds_bucket{route="ws", instance=~"$instance"}[$__rate_interval])))'), ['request_latency_seconds_bucket']);
    assert.deepEqual(metricNames('sum(rate(a_total{code=~"5.."}[5m] offset 1h)) / on (instance) group_left (x) sum without (y) (b_total) and bool c'), ['a_total', 'b_total', 'c']);
    assert.deepEqual(metricNames('max by (instance) (x{l="}"}) > 1e3 unless topk(5, y)'), ['x', 'y']);
  });

  it('is an importable dashboard: a ${DS_PROMETHEUS} input, and every panel has a title, that data source and a query', () => {
    assert.deepEqual(dashboard.__inputs.map((i) => [i.name, i.type, i.pluginId]), [['DS_PROMETHEUS', 'datasource', 'prometheus']]);
    assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion} predates Grafana 11`);
    assert.ok(queryPanels.length >= 10, `${queryPanels.length} panels`);
    for (const panel of dashboard.panels) assert.ok(panel.title?.trim(), `a ${panel.type} panel has no title`);
    for (const panel of queryPanels) {
      assert.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', `panel "${panel.title}" datasource`);
      assert.ok((panel.targets ?? []).length >= 1, `panel "${panel.title}" has no target`);
      for (const t of panel.targets ?? []) {
        assert.ok(t.expr?.trim(), `panel "${panel.title}" has a target without expr`);
        assert.equal(t.datasource?.uid ?? panel.datasource.uid, '${DS_PROMETHEUS}', `panel "${panel.title}" target datasource`);
      }
    }
  });

  it('every metric a panel or variable queries is exported by a live server', { timeout: 30_000 }, async () => {
    const t = await startTestServer();
    try {
      // A little traffic, so the labelled request, latency and queue series exist.
      const client = await t.client();
      await client.send({ topic: 'dash:jobs', idemKey: 'd1', payload: 'hello' });
      const got = await client.recv({ topic: 'dash:jobs', maxMessages: 1, waitMs: 10_000 });
      assert.equal(got.length, 1);
      await got[0]!.ack();
      const text = await t.metrics();

      // Families the scrape declares (`# TYPE name type`): prom-client declares every registered
      // metric, including counters whose labelled series appear only with their first event.
      const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
      const used = new Set<string>();
      const unknown: string[] = [];
      for (const { where, expr } of expressions()) {
        const names = metricNames(expr);
        assert.ok(names.length > 0, `${where}: no metric name in ${expr}`);
        for (const name of names) {
          const base = family(name, types);
          if (base === undefined) unknown.push(`${where}: ${name}`);
          else used.add(base);
        }
      }
      assert.deepEqual(unknown, [], `metrics the server does not export:\n${unknown.join('\n')}`);
      // The golden panels are all there.
      for (const name of ['request_latency_seconds', 'requests_total', 'rejected_total', 'queue_depth', 'requeued_total', 'dlq_depth', 'dlq_writes_total', 'bus_lagged_total', 'bus_overflow_dropped_total', 'integrity_fail_total', 'readiness_state', 'chaos_active']) {
        assert.ok(used.has(name), `no panel shows ${name}`);
      }
    } finally {
      await t.stop();
    }
  });
});
