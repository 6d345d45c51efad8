import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DeficitRoundRobin } from '../../src/domain/deficit-round-robin.ts';

/** Flows as queues of item sizes; `serve` takes items while they fit the allowance (always one). */
function queues(sizes: Record<string, number[]>) {
  const served: Record<string, number> = Object.fromEntries(Object.keys(sizes).map((f) => [f, 0]));
  const order: string[] = [];
  const serve = (flow: string, allowance: number) => {
    const q = sizes[flow]!;
    let spent = 0;
    while (q.length > 0 && (spent === 0 || spent + q[0]! <= allowance)) {
      spent += q.shift()!;
      order.push(flow);
    }
    served[flow]! += spent;
    return { spent, more: q.length > 0 };
  };
  return { served, order, serve };
}

describe('deficit round robin', () => {
  it('gives every flow with work a quantum per round, whatever its backlog', () => {
    const drr = new DeficitRoundRobin<string>(10);
    const { served, serve } = queues({ hot: Array(1000).fill(5), calm: Array(6).fill(5) });
    const left = drr.run(['hot', 'calm'], 40, serve);
    assert.deepEqual(served, { hot: 20, calm: 20 }, 'two rounds of 10 each');
    assert.deepEqual(left, ['hot', 'calm']);
    const again = drr.run(left, 1_000, serve);
    assert.equal(served.calm, 30, 'calm had 6 items of 5');
    assert.equal(served.hot, 20 + 1_000 - 10, 'then hot alone takes the rest of the budget');
    assert.deepEqual(again, ['hot'], 'the budget ran out with hot still busy');
  });

  it('lets a lone flow take the whole budget, and forgets a flow whose work ran out', () => {
    const drr = new DeficitRoundRobin<string>(10);
    const { served, serve } = queues({ a: Array(100).fill(5) });
    assert.deepEqual(drr.run(['a'], 200, serve), ['a']);
    assert.equal(served.a, 200, 'in one turn, not twenty');
    assert.ok(drr.deficitOf('a') <= 10, 'a lone flow carries at most one quantum');
    drr.run(['a'], 10_000, serve);
    assert.equal(drr.size, 0);
  });

  it('carries an overdraft: a flow whose item was larger than its deficit skips turns until it is paid', () => {
    const drr = new DeficitRoundRobin<string>(10);
    const { order, serve } = queues({ big: [35, 35], small: Array(10).fill(10) });
    drr.run(['big', 'small'], 100, serve);
    // big overdraws by 25 in round 1 and waits rounds 2-3; small goes every round.
    assert.deepEqual(order.slice(0, 5), ['big', 'small', 'small', 'small', 'big']);
  });

  it('a flow that spends nothing (no credit) is done for now and hoards nothing', () => {
    const drr = new DeficitRoundRobin<string>(10);
    const left = drr.run(['stuck', 'ok'], 100, (flow) => ({ spent: flow === 'stuck' ? 0 : 10, more: true }));
    assert.deepEqual(left, ['ok']);
    assert.equal(drr.deficitOf('stuck'), 0);
  });

  it('property: while both have work, two flows are served within one quantum plus one item of each other; the budget holds to one item', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 100 }),
      fc.array(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 60 }), { minLength: 2, maxLength: 5 }),
      fc.integer({ min: 1, max: 3_000 }),
      (quantum, backlogs, budget) => {
        const names = backlogs.map((_, i) => `f${i}`);
        const sizes = Object.fromEntries(names.map((n, i) => [n, [...backlogs[i]!]]));
        const drr = new DeficitRoundRobin<string>(quantum);
        const { served, serve } = queues(sizes);
        let total = 0;
        const left = drr.run(names, budget, (f, a) => {
          const r = serve(f, a);
          total += r.spent;
          return r;
        });
        assert.ok(total <= budget + 50, `spent ${total} of ${budget}`);
        // Flows still busy at the end were busy all along: any two are within quantum + largest item.
        for (const a of left) for (const b of left) {
          assert.ok(Math.abs(served[a]! - served[b]!) <= quantum + 50, `${a} ${served[a]} vs ${b} ${served[b]}`);
        }
        // A flow with work is never left unserved while the budget lasted past the first round.
        if (budget >= quantum * names.length + 50 * names.length) for (const n of names) assert.ok(served[n]! > 0, `${n} starved`);
      },
    ));
  });
});
