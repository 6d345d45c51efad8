#!/usr/bin/env node
// `npx mailbox …` and `npm start`: runs the TypeScript CLI through tsx (a runtime dependency).
// Amnesia promises zero disk artifacts, and tsx's compile cache would write compiled sources
// to TMPDIR, so it is switched off when amnesia is asked for here (flag or environment).
import { register } from 'tsx/esm/api';

const argv = process.argv.slice(2);
const amnesia = argv.includes('--amnesia') || process.env.AMNESIA === 'on' || process.env.MAILBOX_PROFILE === 'micronode';
if (amnesia) process.env.TSX_DISABLE_CACHE = '1';

register();
await import('../src/cli/main.ts');
