#!/usr/bin/env node
// `npx mailbox …` and `npm start`: runs the build in dist/ (scripts/build.mjs) when it is there
// and fresh, i.e. built from the sources as they are now (scripts/build-fresh.mjs); else the
// TypeScript sources through tsx (a runtime dependency), which compiles them at every start.
// `bench` and `chaos` always run from the sources: they are not in the build.
// Amnesia promises zero disk artifacts, and tsx's compile cache would write compiled sources
// to TMPDIR, so it is switched off when amnesia is asked for here (flag or environment); the
// built CLI writes nothing, but a TypeScript config file still loads through tsx.
import { fileURLToPath } from 'node:url';
import { buildIsFresh } from '../scripts/build-fresh.mjs';

const argv = process.argv.slice(2);
const amnesia = argv.includes('--amnesia') || process.env.AMNESIA === 'on' || process.env.MAILBOX_PROFILE === 'micronode';
if (amnesia) process.env.TSX_DISABLE_CACHE = '1';

const root = fileURLToPath(new URL('..', import.meta.url));
const fromSources = argv[0] === 'bench' || argv[0] === 'chaos';
if (!fromSources && buildIsFresh(root, fileURLToPath(new URL('../dist', import.meta.url)))) {
  await import('../dist/mailbox.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
