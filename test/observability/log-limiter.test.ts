import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { LogLimiter } from '../../src/observability/log-limiter.ts';

describe('log limiter', () => {
  it('writes the first n lines of a reason per window, counts the rest, and summarises them once when the window has passed', () => {
    const limiter = new LogLimiter({ perWindow: 3, windowMs: 1_000 });
    let now = 10_000;
    const admitted = Array.from({ length: 1_000 }, () => limiter.admit('E_SCHEMA', (now += 0.5)));
    assert.equal(admitted.filter((a) => a.log).length, 3);
    assert.ok(admitted.every((a) => a.suppressed === 0), 'no summary inside the window');
    assert.deepEqual(limiter.flush(now), [], 'the window has not ended yet');

    // The first event after the window is written, with the summary of the window before.
    assert.deepEqual(limiter.admit('E_SCHEMA', 10_000 + 1_000 + 1), { log: true, suppressed: 997 });
    assert.deepEqual(limiter.admit('E_SCHEMA', 10_000 + 1_000 + 2), { log: true, suppressed: 0 });
  });

  it('keeps each reason apart: a flood of one does not silence another', () => {
    const limiter = new LogLimiter({ perWindow: 2, windowMs: 1_000 });
    for (let i = 0; i < 50; i++) limiter.admit('E_CAP_AUTH', i);
    assert.deepEqual(limiter.admit('E_CAP_SCOPE', 50), { log: true, suppressed: 0 });
    assert.deepEqual(limiter.flush(), [{ key: 'E_CAP_AUTH', suppressed: 48 }]);
  });

  it('flush(now) hands out the summary of an ended window once, and flush() every pending one (a closing connection)', () => {
    const limiter = new LogLimiter({ perWindow: 1, windowMs: 100 });
    limiter.admit('a', 0);
    limiter.admit('a', 1);
    limiter.admit('b', 50);
    limiter.admit('b', 60);
    limiter.admit('b', 70);
    assert.deepEqual(limiter.flush(120), [{ key: 'a', suppressed: 1 }]);
    assert.deepEqual(limiter.flush(130), [], 'said once');
    assert.deepEqual(limiter.admit('a', 131), { log: true, suppressed: 0 }, 'a starts afresh');
    assert.deepEqual(limiter.flush(), [{ key: 'b', suppressed: 2 }]);
  });

  it('refuses a limit that would write nothing', () => {
    assert.throws(() => new LogLimiter({ perWindow: 0, windowMs: 1_000 }), RangeError);
    assert.throws(() => new LogLimiter({ perWindow: 1, windowMs: 0 }), RangeError);
  });
});
