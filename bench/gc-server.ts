/**
 * `mailbox serve` plus an IPC hook for the durable figures (durable-figures.ts): on 'gc' it
 * runs a full GC (the child is started with `node --expose-gc`) and answers with its memory
 * figures, so that the parent reads VmRSS with no garbage in it. Started by server.ts with
 * `exposeGc`; the arguments are those of `mailbox serve`.
 */
process.on('message', (message) => {
  if (message !== 'gc') return;
  const gc = (globalThis as { gc?: () => void }).gc;
  // Twice: the first pass runs finalizers whose objects only the second one frees.
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  process.send?.({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers });
});
await import('../src/cli/main.ts');
