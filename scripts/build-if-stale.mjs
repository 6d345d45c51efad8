/**
 * `npm start` preloads this (`node --import ./scripts/build-if-stale.mjs bin/mailbox.mjs …`):
 * when dist/ is not the build of the sources as they are now, it is rebuilt first, in the
 * server's own process (no second node start, and `exec` still leaves node alone in the
 * process group). When the build fails, bin/mailbox.mjs finds dist/ stale and runs the
 * sources through tsx, which reports the same error. When dist/ is fresh this costs a few
 * hundred stat calls.
 */
import { staleReason } from './build-fresh.mjs';
import { build, DIST, ENTRY, ROOT } from './build.mjs';

const reason = staleReason(ROOT, DIST);
if (reason !== undefined) {
  try {
    const ms = await build({ outdir: DIST, stopService: true });
    process.stderr.write(`mailbox build: dist/${ENTRY} in ${Math.round(ms)} ms (${reason})\n`);
  } catch (err) {
    process.stderr.write(`mailbox build: ${err instanceof Error ? err.message : String(err)}; running the sources through tsx\n`);
  }
}
