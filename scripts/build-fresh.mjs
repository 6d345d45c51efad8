/**
 * Is dist/ the build of the sources as they are now? scripts/build.mjs writes
 * `<outdir>/build-stamp.json` last: the size and mtime of every file the bundle was built from
 * (esbuild's list of inputs) plus the build's own inputs (package.json, tsconfig.json, the build
 * script). The build is fresh when every one of them still has that size and mtime: an edit, a
 * `git checkout` or a deleted file makes it stale, an older mtime too. A new file matters only
 * once an input imports it, and that input then changed. No dependencies, a few hundred
 * stat calls (about a millisecond): bin/mailbox.mjs asks on every start.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const STAMP = 'build-stamp.json';
/** Files the build depends on besides the bundle's inputs (paths relative to the repository root). */
export const BUILD_INPUTS = ['package.json', 'tsconfig.json', 'scripts/build.mjs', 'scripts/build-fresh.mjs'];

/** `[mtimeMs, size]` of each file (relative paths under `root`); a missing file throws. */
export function fingerprint(root, files) {
  const out = {};
  for (const f of files) {
    const s = statSync(join(root, f));
    out[f] = [s.mtimeMs, s.size];
  }
  return out;
}

/** Why the build in `outdir` is not the build of `root`'s files as they are now, or undefined when it is. */
export function staleReason(root, outdir) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(outdir, STAMP), 'utf8'));
  } catch {
    return 'no build';
  }
  if (stamp?.version !== 1 || typeof stamp.inputs !== 'object' || stamp.inputs === null) return 'unknown build stamp';
  for (const [file, [mtimeMs, size]] of Object.entries(stamp.inputs)) {
    let s;
    try {
      s = statSync(join(root, file));
    } catch {
      return `${file} is gone`;
    }
    if (s.mtimeMs !== mtimeMs || s.size !== size) return `${file} changed since the build`;
  }
  return undefined;
}

export function buildIsFresh(root, outdir) {
  return staleReason(root, outdir) === undefined;
}
