/**
 * A small PromQL evaluator for the expression shapes ops/alerts.yaml uses, over two scrapes of
 * one target: `rate(m[r])` and `increase(m[r])` are taken between the scrapes (whatever `r`
 * says, the window is the test's), a bare selector reads the second scrape. Supported: label
 * matchers (= != =~ !~), `sum [by (…)]`, `rate`, `increase`, `histogram_quantile`, + - * /,
 * comparisons (filtering, as in an alert), `and`, parentheses and numbers. Anything else throws,
 * so a new alert shape fails the test instead of passing unevaluated.
 */

export type Labels = Record<string, string>;
export interface Sample {
  labels: Labels;
  value: number;
}
type Value = { kind: 'scalar'; value: number } | { kind: 'vector'; samples: Sample[] };

export interface Scrape {
  /** Series by name, each with its labels (target labels added) and value. */
  series: Map<string, Sample[]>;
  /** Seconds (monotonic) when it was taken. */
  at: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition; `target` labels (instance, job) are added to every sample. */
export function parseScrape(text: string, at: number, target: Labels): Scrape {
  const series = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparsable sample line: ${line}`);
    const labels: Labels = { ...target };
    for (const l of (m[3] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const list = series.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[4]) });
    series.set(m[1]!, list);
  }
  return { series, at };
}

function key(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

type Token = { t: 'num'; v: number } | { t: 'id'; v: string } | { t: 'str'; v: string } | { t: 'op'; v: string } | { t: 'dur'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(\[[^\]]+\])|("(?:[^"\\]|\\.)*")|(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([a-zA-Z_:][a-zA-Z0-9_:]*)|(==|!=|>=|<=|=~|!~|[(){},=<>+\-*/]))/y;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) throw new Error(`cannot tokenize at: ${src.slice(pos, pos + 20)}`);
    pos = re.lastIndex;
    if (m[1]) out.push({ t: 'dur', v: m[1] });
    else if (m[2]) out.push({ t: 'str', v: JSON.parse(m[2]) as string });
    else if (m[3]) out.push({ t: 'num', v: Number(m[3]) });
    else if (m[4]) out.push({ t: 'id', v: m[4] });
    else out.push({ t: 'op', v: m[5]! });
  }
  return out;
}

/** Evaluates `expr` between scrape `a` and scrape `b`; an alert fires when the result is a non-empty vector. */
export function evaluate(expr: string, a: Scrape, b: Scrape): Value {
  const tokens = tokenize(expr);
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const next = (): Token => {
    const tok = tokens[i++];
    if (!tok) throw new Error(`unexpected end of ${expr}`);
    return tok;
  };
  const expect = (v: string): void => {
    const tok = next();
    if (tok.v !== v) throw new Error(`expected ${v}, got ${String(tok.v)} in ${expr}`);
  };
  const isOp = (...vs: string[]): boolean => {
    const tok = peek();
    return tok !== undefined && (tok.t === 'op' || tok.t === 'id') && vs.includes(String(tok.v));
  };

  const select = (name: string, matchers: Array<[string, string, string]>, scrape: Scrape): Sample[] =>
    (scrape.series.get(name) ?? []).filter((s) =>
      matchers.every(([label, op, want]) => {
        const have = s.labels[label] ?? '';
        if (op === '=') return have === want;
        if (op === '!=') return have !== want;
        const hit = new RegExp(`^(?:${want})$`).test(have);
        return op === '=~' ? hit : !hit;
      }),
    );

  const selector = (name: string): { name: string; matchers: Array<[string, string, string]>; range: boolean } => {
    const matchers: Array<[string, string, string]> = [];
    if (isOp('{')) {
      next();
      while (!isOp('}')) {
        const label = String(next().v);
        const op = String(next().v);
        const value = next();
        if (value.t !== 'str') throw new Error(`label value must be a string in ${expr}`);
        matchers.push([label, op, value.v]);
        if (isOp(',')) next();
      }
      expect('}');
    }
    let range = false;
    if (peek()?.t === 'dur') {
      next();
      range = true;
    }
    return { name, matchers, range };
  };

  const delta = (perSecond: boolean): Value => {
    expect('(');
    const sel = selector(String(next().v));
    if (!sel.range) throw new Error(`rate/increase needs a range in ${expr}`);
    expect(')');
    const before = new Map(select(sel.name, sel.matchers, a).map((s) => [key(s.labels), s.value]));
    const span = b.at - a.at;
    const samples = select(sel.name, sel.matchers, b).map((s) => {
      const inc = s.value - (before.get(key(s.labels)) ?? 0);
      const labels = { ...s.labels };
      return { labels, value: perSecond ? inc / span : inc };
    });
    return { kind: 'vector', samples };
  };

  const sum = (): Value => {
    let by: string[] | undefined;
    if (isOp('by')) {
      next();
      expect('(');
      by = [];
      while (!isOp(')')) {
        by.push(String(next().v));
        if (isOp(',')) next();
      }
      expect(')');
    }
    expect('(');
    const inner = expr0();
    expect(')');
    if (inner.kind !== 'vector') throw new Error(`sum of a scalar in ${expr}`);
    const groups = new Map<string, Sample>();
    for (const s of inner.samples) {
      const labels: Labels = {};
      for (const l of by ?? []) if (s.labels[l] !== undefined) labels[l] = s.labels[l];
      const k = key(labels);
      const g = groups.get(k);
      if (g) g.value += s.value;
      else groups.set(k, { labels, value: s.value });
    }
    return { kind: 'vector', samples: [...groups.values()] };
  };

  const quantile = (): Value => {
    expect('(');
    const q = next();
    if (q.t !== 'num') throw new Error(`histogram_quantile needs a number in ${expr}`);
    expect(',');
    const inner = expr0();
    expect(')');
    if (inner.kind !== 'vector') throw new Error(`histogram_quantile of a scalar in ${expr}`);
    const groups = new Map<string, { labels: Labels; buckets: Array<[number, number]> }>();
    for (const s of inner.samples) {
      const { le, ...rest } = s.labels;
      if (le === undefined) continue;
      const k = key(rest);
      const g = groups.get(k) ?? { labels: rest, buckets: [] };
      g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
      groups.set(k, g);
    }
    const samples: Sample[] = [];
    for (const { labels, buckets } of groups.values()) samples.push({ labels, value: bucketQuantile(q.v, buckets) });
    return { kind: 'vector', samples };
  };

  function primary(): Value {
    const tok = next();
    if (tok.t === 'num') return { kind: 'scalar', value: tok.v };
    if (tok.t === 'op' && tok.v === '(') {
      const v = expr0();
      expect(')');
      return v;
    }
    if (tok.t !== 'id') throw new Error(`unexpected ${String(tok.v)} in ${expr}`);
    if (tok.v === 'sum') return sum();
    if (tok.v === 'rate') return delta(true);
    if (tok.v === 'increase') return delta(false);
    if (tok.v === 'histogram_quantile') return quantile();
    const sel = selector(tok.v);
    if (sel.range) throw new Error(`a bare range vector in ${expr}`);
    return { kind: 'vector', samples: select(sel.name, sel.matchers, b).map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }

  function binary(level: number): Value {
    const levels = [['and'], ['==', '!=', '>', '<', '>=', '<='], ['+', '-'], ['*', '/']];
    if (level === levels.length) return primary();
    let left = binary(level + 1);
    while (isOp(...levels[level]!)) {
      const op = String(next().v);
      left = apply(op, left, binary(level + 1));
    }
    return left;
  }
  const expr0 = (): Value => binary(0);

  const result = expr0();
  if (i !== tokens.length) throw new Error(`trailing tokens in ${expr}`);
  return result;
}

function arith(op: string, x: number, y: number): number {
  switch (op) {
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': return x / y;
  }
  throw new Error(`not arithmetic: ${op}`);
}

function compare(op: string, x: number, y: number): boolean {
  switch (op) {
    case '==': return x === y;
    case '!=': return x !== y;
    case '>': return x > y;
    case '<': return x < y;
    case '>=': return x >= y;
    case '<=': return x <= y;
  }
  throw new Error(`not a comparison: ${op}`);
}

function apply(op: string, l: Value, r: Value): Value {
  const isCmp = ['==', '!=', '>', '<', '>=', '<='].includes(op);
  if (op === 'and') {
    if (l.kind !== 'vector' || r.kind !== 'vector') throw new Error('and needs two vectors');
    const right = new Set(r.samples.map((s) => key(s.labels)));
    return { kind: 'vector', samples: l.samples.filter((s) => right.has(key(s.labels))) };
  }
  if (l.kind === 'scalar' && r.kind === 'scalar') {
    return { kind: 'scalar', value: isCmp ? Number(compare(op, l.value, r.value)) : arith(op, l.value, r.value) };
  }
  if (l.kind === 'vector' && r.kind === 'vector') {
    const right = new Map(r.samples.map((s) => [key(s.labels), s.value]));
    const samples: Sample[] = [];
    for (const s of l.samples) {
      const y = right.get(key(s.labels));
      if (y === undefined) continue;
      if (isCmp) {
        if (compare(op, s.value, y)) samples.push(s);
      } else samples.push({ labels: s.labels, value: arith(op, s.value, y) });
    }
    return { kind: 'vector', samples };
  }
  const vec = (l.kind === 'vector' ? l : r) as Extract<Value, { kind: 'vector' }>;
  const scalar = (l.kind === 'scalar' ? l : r) as Extract<Value, { kind: 'scalar' }>;
  const pair = (v: number): [number, number] => (l.kind === 'vector' ? [v, scalar.value] : [scalar.value, v]);
  if (isCmp) return { kind: 'vector', samples: vec.samples.filter((s) => compare(op, ...pair(s.value))) };
  return { kind: 'vector', samples: vec.samples.map((s) => ({ labels: s.labels, value: arith(op, ...pair(s.value)) })) };
}

/** Prometheus' bucketQuantile: linear interpolation inside the bucket the rank falls in. */
export function bucketQuantile(q: number, buckets: Array<[number, number]>): number {
  const sorted = [...buckets].sort((x, y) => x[0] - y[0]);
  if (sorted.length < 2 || sorted.at(-1)![0] !== Infinity) return NaN;
  const total = sorted.at(-1)![1];
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let b = sorted.findIndex(([, count]) => count >= rank);
  if (b === sorted.length - 1) return sorted[sorted.length - 2]![0];
  if (b === 0 && sorted[0]![0] <= 0) return sorted[0]![0];
  let start = 0;
  let prevCount = 0;
  if (b > 0) {
    start = sorted[b - 1]![0];
    prevCount = sorted[b - 1]![1];
  } else b = 0;
  const [end, count] = sorted[b]!;
  return start + (end - start) * ((rank - prevCount) / (count - prevCount));
}

/** The `alert:` names and `expr:` texts of an alerting rules file (the layout ops/alerts.yaml uses). */
export function alertRules(yaml: string): Array<{ alert: string; expr: string }> {
  const rules: Array<{ alert: string; expr: string }> = [];
  const blocks = yaml.split(/^\s+- alert: /m).slice(1);
  for (const block of blocks) {
    const alert = block.split('\n')[0]!.trim();
    const m = /^(\s+)expr: (\|\n((?:\1\s+.*\n)+)|(.*)\n)/m.exec(block);
    if (!m) throw new Error(`no expr in alert ${alert}`);
    rules.push({ alert, expr: (m[3] ?? m[4] ?? '').replace(/\s+/g, ' ').trim() });
  }
  return rules;
}
