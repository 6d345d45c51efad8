/**
 * A drill's report (issue 15): the JSON and one-page HTML with throughput, requeue, rejection
 * and readiness charts drawn from the timeline, text escaped; the admin-port source; and one
 * short real drill run through the runner.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { renderDrillReport, type DrillRecord } from '../../chaos/report.ts';
import { rates } from '../../chaos/report-charts.ts';
import { runDrills } from '../../chaos/run.ts';
import { drill as sessionChurn } from '../../chaos/session-churn.drill.ts';
import { adminSource, type RecordedTimeline, type TimelineSample } from '../../chaos/timeline.ts';

const STATES = ['ready', 'ready', 'ready', 'degraded', 'degraded', 'degraded', 'ready', 'ready'];

/** Eight samples 250 ms apart: counters rising, degraded from 750 ms until the sample at 1500 ms. */
function recorded(): RecordedTimeline {
  const samples: TimelineSample[] = STATES.map((readiness, i) => ({
    t: i * 250,
    accepted: i * 500,
    acked: i * 400 + (i % 2) * 50,
    requeued: i * i,
    rejected: { degraded: i >= 3 ? (i - 2) * 30 : 0, storage: 0 },
    readiness,
  }));
  return { source: 'runtime', intervalMs: 250, samples, faultStartMs: 700, faultEndMs: 1400 };
}

function record(timeline: RecordedTimeline): DrillRecord {
  return {
    drill: 'demo<script>', promise: 'Keeps "x" & <y>', kept: true, details: { note: '<b>bold</b>', lost: 0 },
    options: { messages: 10 }, startedAt: '2026-12-02T17:00:00.000Z', elapsedMs: 2_000, timeline,
  };
}

/** Each chart's figure, and the point lists of its series. */
function charts(html: string): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  for (const m of html.matchAll(/<figure data-chart="([^"]+)">([\s\S]*?)<\/figure>/g)) {
    const series = [...m[2]!.matchAll(/<polyline class="series"[^>]* points="([^"]*)"/g)].map((p) => p[1]!.split(' ').filter(Boolean));
    out.set(m[1]!, series);
  }
  return out;
}

describe('chaos drill report', () => {
  test('a recorded timeline renders four SVG charts with one point per sample, the degraded interval in the readiness band, and escaped text', () => {
    const tl = recorded();
    const html = renderDrillReport(record(tl));
    assert.equal(html.match(/<svg /g)?.length, 4);
    const c = charts(html);
    assert.deepEqual([...c.keys()], ['throughput', 'requeues', 'rejections', 'readiness']);
    for (const [name, series] of c) {
      assert.ok(series.length > 0, `${name} has a series`);
      for (const pts of series) assert.equal(pts.length, tl.samples.length, `${name}: one point per sample`);
    }
    // Rates rise from 0, so each throughput line leaves the x axis.
    for (const pts of c.get('throughput')!) assert.ok(new Set(pts.map((p) => p.split(',')[1])).size > 1);
    // The rejection chart draws the reason that rose, not the one that stayed at 0.
    assert.match(html, /data-series="degraded"/);
    assert.doesNotMatch(html, /data-series="storage"/);
    const bands = [...html.matchAll(/<rect class="band" data-state="(\w+)" data-from-ms="(\d+)" data-to-ms="(\d+)"/g)].map((m) => `${m[1]}:${m[2]}-${m[3]}`);
    assert.deepEqual(bands, ['ready:0-750', 'degraded:750-1500', 'ready:1500-1750']);
    assert.match(html, /<rect class="fault"/);
    assert.doesNotMatch(html, /<script>|<b>bold|"x" &/);
    assert.match(html, /demo&#60;script&#62;/);
    assert.match(html, /&#60;b&#62;bold&#60;\/b&#62;/);
    assert.match(html, /Keeps &#34;x&#34; &#38; &#60;y&#62;/);
  });

  test('a drill that fed no timeline gets a report that says so, without charts', () => {
    const html = renderDrillReport(record({ source: 'none', intervalMs: 250, samples: [] }));
    assert.match(html, /no timeline/);
    assert.equal(html.match(/<svg /g), null);
  });

  test('rates read a counter that drops (a restarted server) as a reset, never as a negative rate', () => {
    const s = [0, 1000, 2000].map((t, i) => ({ t, requeued: [10, 30, 5][i]!, rejected: {}, readiness: 'ready' }));
    assert.deepEqual(rates(s, (x) => x.requeued), [0, 20, 5]);
    // A sample 10 ms after the last (a mark) is rated over the 260 ms since the one before, not over its 10 ms.
    const marked = [0, 250, 260, 500].map((t, i) => ({ t, requeued: [0, 100, 150, 200][i]!, rejected: {}, readiness: 'ready' }));
    assert.deepEqual(rates(marked, (x) => x.requeued).map(Math.round), [0, 400, 577, 208]);
  });

  test('the admin-port source reads requests, requeues and rejections by reason and /readyz; a silent port is down with the last counters', async () => {
    const metrics = [
      'requests_total{route="ws",method="SEND_BATCH",code="200"} 7',
      'requests_total{route="ws",method="ACK",code="200"} 5',
      'requests_total{route="/metrics",method="GET",code="200"} 2',
      'requeued_total{queue="a",reason="nack"} 3',
      'requeued_total{queue="b",reason="visibility"} 4',
      'rejected_total{reason="degraded"} 9',
      'rejected_total{reason="quota"} 0',
    ].join('\n');
    const server = createServer((req, res) => {
      if (req.url === '/metrics') res.end(`# HELP x\n${metrics}\n`);
      else {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ state: 'degraded', ready: false, reasons: ['cpu'] }));
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const source = adminSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const up = await source.sample();
    assert.deepEqual(up, { requests: { SEND_BATCH: 7, ACK: 5, GET: 2 }, requeued: 7, rejected: { degraded: 9, quota: 0 }, readiness: 'degraded' });
    server.close();
    server.closeAllConnections();
    await once(server, 'close');
    assert.deepEqual(await source.sample(), { ...up, readiness: 'down' });
  });

  test('a short real drill run writes its JSON with samples and an HTML report whose charts have them, 0600 in a 0700 dir', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'mailbox-chaos-report-')), 'run');
    try {
      const runs = await runDrills([sessionChurn], { messages: 2_000, durationMs: 800, seed: 3 }, { dir });
      assert.equal(runs[0]!.result.kept, true, JSON.stringify(runs[0]!.result.details));
      const rec = JSON.parse(readFileSync(join(dir, 'session-churn.json'), 'utf8')) as DrillRecord;
      assert.equal(rec.drill, 'session-churn');
      assert.ok(rec.timeline.samples.length >= 2, `${rec.timeline.samples.length} samples`);
      assert.ok(rec.timeline.faultStartMs !== undefined && rec.timeline.faultEndMs !== undefined);
      assert.ok(rec.timeline.samples.at(-1)!.accepted! > 0);
      const c = charts(readFileSync(runs[0]!.files!.html, 'utf8'));
      assert.equal(c.size, 4);
      for (const series of c.values()) for (const pts of series) assert.equal(pts.length, rec.timeline.samples.length);
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      for (const f of ['session-churn.json', 'session-churn.html', 'index.html']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
      assert.match(readFileSync(runs.index!, 'utf8'), /href="session-churn\.html"/);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });
});
