import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyWindow, OverloadDetector } from '../../src/domain/overload.ts';

describe('OverloadDetector', () => {
  it('raises the overload only after the configured number of bad windows in a row', () => {
    const d = new OverloadDetector({ thresholdMs: 200, windows: 3 });
    assert.equal(d.sample(500), undefined);
    assert.equal(d.sample(500), undefined);
    assert.equal(d.sample(500), 'raised');
    assert.equal(d.overloaded, true);
  });

  it('ignores a single slow window between good ones', () => {
    const d = new OverloadDetector({ thresholdMs: 200, windows: 3 });
    for (const ms of [500, 10, 500, 500, 10, 500]) assert.equal(d.sample(ms), undefined);
    assert.equal(d.overloaded, false);
  });

  it('clears the overload after as many good windows in a row', () => {
    const d = new OverloadDetector({ thresholdMs: 200, windows: 2 });
    d.sample(900);
    assert.equal(d.sample(900), 'raised');
    assert.equal(d.sample(5), undefined);
    assert.equal(d.sample(900), undefined, 'a bad window resets the good streak');
    assert.equal(d.sample(5), undefined);
    assert.equal(d.sample(5), 'cleared');
    assert.equal(d.overloaded, false);
  });
});

describe('LatencyWindow', () => {
  it('gives the p99 of the window and starts a fresh one; an empty window reads 0', () => {
    const w = new LatencyWindow();
    for (let i = 1; i <= 100; i++) w.record(i);
    assert.equal(w.take(), 99);
    assert.equal(w.take(), 0, 'no commits: nothing waited');
  });

  it('stays bounded past its cap and keeps the shape of the window', () => {
    const w = new LatencyWindow(64);
    for (let i = 0; i < 10_000; i++) w.record(i % 100 === 99 ? 500 : 5);
    const p99 = w.take();
    assert.ok(p99 === 5 || p99 === 500, `p99 ${p99}`);
    for (let i = 0; i < 10_000; i++) w.record(i % 10 === 0 ? 500 : 5);
    assert.equal(w.take(), 500, 'one commit in ten slow: the p99 is slow');
  });
});
