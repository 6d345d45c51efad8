import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OverloadDetector } from '../../src/domain/overload.ts';

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
