import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LeaseRings, MAX_RINGS, NO_HANDLE, isHeapHandle } from '../../src/domain/lease-rings.ts';

/** Takes every lease due by `now`, as [key, seq] pairs. */
function drain(rings: LeaseRings<string>, now: number): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (let key = rings.takeDue(now); key !== undefined; key = rings.takeDue(now)) out.push([key, rings.takenSeq]);
  return out;
}

describe('lease rings', () => {
  it('yields leases of several visibilities in deadline order, ties to the lease granted first', () => {
    const rings = new LeaseRings<string>();
    rings.add('a', 1_000 + 300, 1, 300);
    rings.add('b', 1_000 + 50, 2, 50);
    rings.add('c', 1_010 + 50, 3, 50);
    rings.add('d', 1_010 + 290, 4, 290); // due 1300, like 'a'
    assert.equal(rings.size, 4);
    assert.equal(rings.peekDue(), 1_050);
    assert.deepEqual(drain(rings, 1_299), [['b', 2], ['c', 3]]);
    assert.deepEqual(drain(rings, 1_300), [['a', 1], ['d', 4]]);
    assert.equal(rings.size, 0);
    assert.equal(rings.peekDue(), undefined);
  });

  it('an acknowledged lease is removed at once and never yielded', () => {
    const rings = new LeaseRings<string>();
    const h1 = rings.add('a', 100, 1, 100);
    const h2 = rings.add('b', 101, 2, 100);
    rings.add('c', 102, 3, 100);
    rings.remove(h2, 2);
    rings.remove(h1, 1);
    assert.equal(rings.size, 1);
    assert.equal(rings.peekDue(), 102);
    assert.deepEqual(drain(rings, 1_000), [['c', 3]]);
  });

  it('a stale handle or sequence removes nothing (a re-leased message keeps its new lease)', () => {
    const rings = new LeaseRings<string>();
    const old = rings.add('a', 100, 1, 100);
    rings.remove(old, 1);
    rings.remove(old, 1); // twice: no-op
    const fresh = rings.add('a', 150, 2, 100); // the emptied ring starts again at position 0
    rings.remove(old, 1);
    assert.equal(rings.size, 1);
    rings.remove(fresh, 7); // the right slot, the wrong sequence
    rings.remove(NO_HANDLE, 2);
    assert.deepEqual(drain(rings, 200), [['a', 2]]);
  });

  it('past MAX_RINGS distinct visibilities, and without a visibility, leases go to the heap and still come out in order', () => {
    const rings = new LeaseRings<string>();
    const handles: number[] = [];
    for (let i = 0; i < MAX_RINGS + 3; i++) handles.push(rings.add(`v${i}`, 10_000 - i, i + 1, 1_000 + i));
    handles.push(rings.add('restored', 5, 100));
    assert.equal(handles.filter(isHeapHandle).length, 4);
    rings.remove(handles[MAX_RINGS + 1]!, MAX_RINGS + 2); // one of the heap's
    const out = drain(rings, 20_000).map(([k]) => k);
    assert.equal(out[0], 'restored');
    assert.equal(out.length, MAX_RINGS + 3);
    assert.ok(!out.includes(`v${MAX_RINGS + 1}`));
    assert.deepEqual(out.slice(1), out.slice(1).sort((a, b) => Number(b.slice(1)) - Number(a.slice(1))));
  });

  it('an EXTEND of a heap lease back into the heap leaves its first entry dead', () => {
    const rings = new LeaseRings<string>();
    const first = rings.add('restored', 100, 1);
    rings.remove(first, 1);
    rings.add('restored', 900, 1); // the same lease (same sequence), a later deadline
    assert.equal(rings.peekDue(), 900);
    assert.deepEqual(drain(rings, 500), []);
    assert.deepEqual(drain(rings, 900), [['restored', 1]]);
  });

  it('a deadline earlier than its ring tail (the clock stepped back) goes to the heap, not out of order', () => {
    const rings = new LeaseRings<string>();
    rings.add('late', 500, 1, 100);
    assert.ok(isHeapHandle(rings.add('early', 450, 2, 100)));
    assert.deepEqual(drain(rings, 1_000), [['early', 2], ['late', 1]]);
  });

  it('an emptied ring is re-keyed for a new visibility', () => {
    const rings = new LeaseRings<string>();
    for (let i = 0; i < MAX_RINGS; i++) rings.remove(rings.add(`v${i}`, i, i + 1, i), i + 1);
    assert.ok(!isHeapHandle(rings.add('new', 5_000, 100, 4_000)));
  });

  it('grows past its first capacity with removals in the middle', () => {
    const rings = new LeaseRings<string>();
    const handles: number[] = [];
    for (let i = 0; i < 1_000; i++) handles.push(rings.add(`m${i}`, i, i + 1, 30));
    for (let i = 0; i < 1_000; i += 3) rings.remove(handles[i]!, i + 1);
    const out = drain(rings, 2_000).map(([, s]) => s - 1);
    assert.deepEqual(out, Array.from({ length: 1_000 }, (_, i) => i).filter((i) => i % 3 !== 0));
  });

  type Step =
    | { kind: 'grant'; visibility: number; restored: boolean }
    | { kind: 'ack'; pick: number }
    | { kind: 'extend'; pick: number; visibility: number; restored: boolean }
    | { kind: 'time'; dt: number }
    | { kind: 'expire' }
    | { kind: 'back'; dt: number };

  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('grant' as const), visibility: fc.oneof(fc.constantFrom(50, 300, 5_000), fc.integer({ min: 1, max: 80 })), restored: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('ack' as const), pick: fc.nat(1_000) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('extend' as const), pick: fc.nat(1_000), visibility: fc.constantFrom(1, 50, 300, 5_000), restored: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('time' as const), dt: fc.constantFrom(0, 1, 7, 49, 50, 300, 2_000) }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'expire' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('back' as const), dt: fc.constantFrom(1, 30) }) },
  );

  it('against a sorted list: yields exactly the expired leases in deadline order, never an acknowledged or re-leased one', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 400, size: 'max' }), (steps) => {
        const rings = new LeaseRings<string>();
        /** The model: open leases sorted by (due, seq). */
        let model: Array<{ key: string; due: number; seq: number; handle: number }> = [];
        /** The live sequence of each key (a key is leased again after it ends). */
        const current = new Map<string, number>();
        let now = 1_000;
        let seq = 0;
        let keyN = 0;
        for (const step of steps) {
          if (step.kind === 'grant') {
            // Reuse a key that is not open now, sometimes: a message leased again.
            const key = keyN > 0 && seq % 3 === 0 && !current.has(`k${seq % keyN}`) ? `k${seq % keyN}` : `k${keyN++}`;
            const s = ++seq;
            const due = now + step.visibility;
            const handle = rings.add(key, due, s, step.restored ? undefined : step.visibility);
            current.set(key, s);
            model.push({ key, due, seq: s, handle });
            model.sort((a, b) => a.due - b.due || a.seq - b.seq);
          } else if (step.kind === 'ack') {
            if (model.length === 0) continue;
            const [gone] = model.splice(step.pick % model.length, 1);
            rings.remove(gone!.handle, gone!.seq);
            rings.remove(gone!.handle, gone!.seq); // a duplicate ACK changes nothing
            current.delete(gone!.key);
          } else if (step.kind === 'extend') {
            // EXTEND: the same lease (key and sequence) at a new deadline, in another ring or the heap.
            if (model.length === 0) continue;
            const lease = model[step.pick % model.length]!;
            rings.remove(lease.handle, lease.seq);
            lease.due = now + step.visibility;
            lease.handle = rings.add(lease.key, lease.due, lease.seq, step.restored ? undefined : step.visibility);
            model.sort((a, b) => a.due - b.due || a.seq - b.seq);
          } else if (step.kind === 'time') {
            now += step.dt;
          } else if (step.kind === 'back') {
            now -= step.dt;
          } else {
            const expected = model.filter((l) => l.due <= now);
            model = model.filter((l) => l.due > now);
            const got = drain(rings, now);
            assert.deepEqual(got, expected.map((l) => [l.key, l.seq]));
            for (const [key, s] of got) {
              assert.equal(current.get(key), s, 'a yielded lease is the live one of its key');
              current.delete(key);
            }
          }
          assert.equal(rings.size, model.length);
          assert.equal(rings.peekDue(), model[0]?.due);
        }
      }),
      { numRuns: 400 },
    );
  });
});
