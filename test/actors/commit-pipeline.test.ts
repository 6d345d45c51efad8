import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommitPipeline } from '../../actors/commit-pipeline.ts';
import { MailboxError } from '../../src/errors.ts';
import type { StoreOp } from '../../src/domain/types.ts';

/** A pipeline over a fake store whose commits the test resolves by hand. */
function setup() {
  const writes: Array<{ ops: StoreOp[]; resolve(): void; reject(e: unknown): void }> = [];
  const events: Array<{ batch: number; error?: unknown }> = [];
  const pipeline = new CommitPipeline(
    (ops) => new Promise<void>((resolve, reject) => writes.push({ ops, resolve, reject })),
    (batch, error) => events.push(error === undefined ? { batch } : { batch, error }),
  );
  const op = (key: string): StoreOp => ({ op: 'delDedup', shard: 0 as never, key });
  return { pipeline, writes, events, op };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CommitPipeline', () => {
  it('answers at once when nothing is pending, and only after the batch is durable otherwise', async () => {
    const { pipeline, writes, events, op } = setup();
    const order: string[] = [];
    pipeline.whenDurable(() => order.push('idle'));
    pipeline.ops.push(op('a'));
    pipeline.whenDurable(() => order.push('a'));
    pipeline.flush();
    assert.deepEqual(order, ['idle']);
    writes[0]!.resolve();
    await tick();
    assert.deepEqual(events, [{ batch: writes.length }]);
    pipeline.committed(events[0]!.batch);
    assert.deepEqual(order, ['idle', 'a']);
    assert.equal(pipeline.idle(), true);
  });

  it('keeps one batch in flight and makes a step that wrote nothing wait behind it', async () => {
    const { pipeline, writes, events, op } = setup();
    const order: string[] = [];
    pipeline.ops.push(op('a'));
    pipeline.whenDurable(() => order.push('write'));
    pipeline.flush();
    pipeline.whenDurable(() => order.push('read after write'));
    pipeline.ops.push(op('b'));
    pipeline.flush();
    assert.equal(writes.length, 1, 'the second batch waits for the first');
    writes[0]!.resolve();
    await tick();
    pipeline.committed(events[0]!.batch);
    assert.deepEqual(order, ['write'], 'the later step waits for the batch that was filling when it ran');
    pipeline.flush();
    assert.deepEqual(writes[1]!.ops.map((o) => (o as { key: string }).key), ['b']);
    writes[1]!.resolve();
    await tick();
    pipeline.committed(events[1]!.batch);
    assert.deepEqual(order, ['write', 'read after write']);
  });

  it('refuses the callers of the failed batch and of the one filling behind it, and ignores a stale event', async () => {
    const { pipeline, writes, events, op } = setup();
    const refused: string[] = [];
    pipeline.ops.push(op('a'));
    pipeline.whenDurable(() => assert.fail('must not succeed'), (e) => refused.push(`a:${e.code}`));
    pipeline.flush();
    pipeline.ops.push(op('b'));
    pipeline.whenDurable(() => assert.fail('must not succeed'), (e) => refused.push(`b:${e.code}`));
    writes[0]!.reject(new Error('disk full'));
    await tick();
    assert.ok(events[0]!.error, 'the failure is reported as an event');
    assert.equal(pipeline.failed(events[0]!.batch + 100, new MailboxError('E_UNAVAILABLE', 'x')), undefined);
    assert.equal(pipeline.failed(events[0]!.batch, new MailboxError('E_UNAVAILABLE', 'storage refused')), 2);
    assert.deepEqual(refused, ['a:E_UNAVAILABLE', 'b:E_UNAVAILABLE']);
    assert.equal(pipeline.idle(), true);
  });
});
