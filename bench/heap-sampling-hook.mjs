/**
 * Preloaded into the bench's server with `--server-heap-prof DIR` (`node --import
 * bench/heap-sampling-hook.mjs …`): V8's sampling heap profiler runs from start-up to exit,
 * keeping the samples of objects that GC has already freed as well, so the profile counts
 * every byte allocated (estimated from one sample per ~32 KiB), not only what is still live.
 * Written at exit (the bench stops its server with SIGTERM) as DIR/<pid>.heapprofile, 0600.
 * Plain JavaScript, so it preloads into the built server as well as into the sources.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_HEAP_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', {
    samplingInterval: 32768,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  process.once('exit', () => {
    // A same-thread inspector session answers synchronously, so this runs before the process ends.
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (err || !result) return;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(result.profile), { mode: 0o600 });
    });
  });
}
