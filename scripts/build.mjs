#!/usr/bin/env node
/**
 * Builds the `mailbox` CLI into dist/: src/cli/main.ts bundled with esbuild (the compiler tsx
 * runs on, so the output is what the tests run), one ES module per command, packages from
 * node_modules left as imports (pino, classic-level and msgpackr have native parts and workers).
 * bin/mailbox.mjs runs it when it is fresh (scripts/build-fresh.mjs), `npm start` rebuilds first
 * when it is stale, `prepare` builds it on `npm ci` / `npm install`. Tests run the sources.
 * `bench` and `chaos` are not in the build: they find files next to their sources and spawn
 * servers of their own; bin/mailbox.mjs runs those two commands from the sources through tsx.
 *
 *   node scripts/build.mjs [--if-stale] [--outdir DIR] [--quiet] [--soft]
 *
 * --soft (prepare): a failed build warns and exits 0, so `npm ci` / `npm install` still install;
 * bin/mailbox.mjs then finds no fresh build and runs the sources, which report the same error.
 */
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_INPUTS, fingerprint, STAMP, staleReason } from './build-fresh.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(ROOT, 'dist');
/** The built CLI, relative to the output directory. */
export const ENTRY = 'mailbox.mjs';
/** Source trees the built CLI must not contain (see the header). */
const FROM_SOURCES = ['bench', 'chaos'].map((d) => join(ROOT, d) + sep);

/** Where the bundle's inputs live (anything else it reads is stamped after the build). */
const SOURCE_DIRS = ['src', 'actors', 'supervisors'];

/** Every file under `dir` (relative to the root), for the stamp taken before the build. */
function sourceFiles(dir) {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(ROOT, join(e.parentPath ?? e.path, e.name)));
}

/** Imports of bench/ or chaos/ become a module that says how to run them. */
const fromSourcesOnly = {
  name: 'from-sources-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const path = resolve(args.resolveDir, args.path);
      if (!FROM_SOURCES.some((d) => path.startsWith(d))) return undefined;
      return { path: relative(ROOT, path), namespace: 'from-sources' };
    });
    b.onLoad({ filter: /.*/, namespace: 'from-sources' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not in the build: run bench and chaos through bin/mailbox.mjs (npx mailbox, npm run bench), which loads them from the sources`)});`,
      loader: 'js',
    }));
  },
};

/**
 * Builds into `outdir` (default dist/) and writes its stamp; resolves with the ms it took.
 * `stopService` ends esbuild's helper process afterwards (for a build inside a long-lived process).
 */
export async function build({ outdir = DIST, stopService = false } = {}) {
  const t0 = performance.now();
  const { build: esbuild, stop } = await import('esbuild');
  try {
    return await buildWith(esbuild, outdir, t0);
  } finally {
    if (stopService) await stop();
  }
}

async function buildWith(esbuild, outdir, t0) {
  // Built beside the target and swapped in whole: a half-written dist/ is never run.
  const tmp = `${outdir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  // Stat the inputs before esbuild reads them: an edit during the build leaves the stamp stale.
  const before = fingerprint(ROOT, [...BUILD_INPUTS, ...SOURCE_DIRS.flatMap(sourceFiles)]);
  const result = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: { mailbox: 'src/cli/main.ts' },
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    plugins: [fromSourcesOnly],
  });
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes(':'));
  const late = inputs.filter((f) => !Object.hasOwn(before, f));
  const stamped = Object.fromEntries([...inputs, ...BUILD_INPUTS].map((f) => [f, before[f]]).filter(([, v]) => v !== undefined));
  const stamp = { version: 1, builtAt: new Date().toISOString(), inputs: { ...stamped, ...fingerprint(ROOT, late) } };
  // The stamp is written last: until it exists the build counts as absent.
  writeFileSync(join(tmp, STAMP), `${JSON.stringify(stamp)}\n`);
  rmSync(outdir, { recursive: true, force: true });
  try {
    renameSync(tmp, outdir);
  } catch (err) {
    // Another build swapped its dist/ in between: keep that one.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(outdir, STAMP))) throw err;
  }
  return performance.now() - t0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--outdir');
  const outdir = at >= 0 && argv[at + 1] ? resolve(argv[at + 1]) : DIST;
  const quiet = argv.includes('--quiet');
  const reason = staleReason(ROOT, outdir);
  if (argv.includes('--if-stale') && reason === undefined) process.exit(0);
  try {
    const ms = await build({ outdir });
    if (!quiet) process.stderr.write(`mailbox build: ${relative(ROOT, outdir) || '.'}/${ENTRY} in ${Math.round(ms)} ms (${reason})\n`);
  } catch (err) {
    const soft = argv.includes('--soft');
    process.stderr.write(`mailbox build: ${err instanceof Error ? err.message : String(err)}${soft ? '\nmailbox build: no build; bin/mailbox.mjs runs the sources through tsx' : ''}\n`);
    process.exit(soft ? 0 : 1);
  }
}
