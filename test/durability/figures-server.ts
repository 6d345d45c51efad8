/**
 * The server as `mailbox serve`, plus an IPC hook for test/durability/figures.ts: on 'gc' it
 * runs a full GC (node --expose-gc) and answers with its memory figures, so RSS is sampled
 * with no garbage in it.
 */
process.on('message', (message) => {
  if (message !== 'gc') return;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  process.send?.({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers });
});
await import('../../src/cli/main.ts');
