/**
 * Preloaded into the bench's server (`node --expose-gc --import bench/gc-hook.mjs …`) for the
 * durable figures (durable-figures.ts): on the IPC message 'gc' it runs a full GC and answers
 * with its memory figures, so that the parent reads VmRSS with no garbage in it. Plain
 * JavaScript, so it preloads into the built server as well as into the sources through tsx.
 */
process.on('message', (message) => {
  if (message !== 'gc') return;
  const gc = globalThis.gc;
  // Twice: the first pass runs finalizers whose objects only the second one frees.
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  process.send?.({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers });
});
