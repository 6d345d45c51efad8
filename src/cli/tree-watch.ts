/**
 * `mailbox tree --watch`: the state dump redrawn every second. On a terminal (stdout a TTY and
 * NO_COLOR unset) states are coloured and the screen is redrawn in place; otherwise each frame
 * is printed plain after a header line. Crashes show their age (`crashed 12s ago: chaos`).
 * A server that goes away is reported and asked again every second until Ctrl-C (exit 0); an
 * HTTP error (a refused token) does not fix itself and exits 1.
 */
import type { TreeNode } from '../runtime/api.ts';
import { UnreachableError, getJson } from './common.ts';

const ESC = '\x1b[';
const paint = (on: boolean, code: string, text: string): string => (on ? `${ESC}${code}m${text}${ESC}0m` : text);
const RED = '31';
const GREEN = '32';
const YELLOW = '33';
const DIM = '2';

/** `12s`, `4m05s`, `2h07m`: how long ago, to the second. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Green when running as it should, yellow when on its way somewhere (restarting, loading, degraded), red when down. */
export function stateColour(state: string): string {
  if (/^(exited|stopped|failed)|:(stopped|failed)/.test(state)) return RED;
  if (/restarting|loading|booting|degraded|draining/.test(state)) return YELLOW;
  return GREEN;
}

export interface FrameOptions {
  colour: boolean;
  /** Wall clock (ms) the crash ages are measured against. */
  now: number;
}

/** One node per line, indented by depth, like `renderTree` but with crash ages and optional colours. */
export function renderWatchTree(node: TreeNode, opts: FrameOptions, indent = ''): string {
  const c = opts.colour;
  const bits = [`${indent}${node.path.split('/').pop() || '/'}`, paint(c, DIM, `[${node.kind}]`), paint(c, stateColour(node.state), node.state)];
  if (node.restarts > 0) bits.push(paint(c, YELLOW, `restarts=${node.restarts}`));
  if (node.depths) bits.push(`ready=${node.depths.ready} leased=${node.depths.leased} delayed=${node.depths.delayed} dlq=${node.depths.dlq}`);
  if (node.lastCrash) bits.push(paint(c, RED, `crashed ${formatAge(opts.now - node.lastCrash.at)} ago: ${node.lastCrash.reason}`));
  bits.push(paint(c, DIM, `up ${(node.uptimeMs / 1000).toFixed(1)}s`));
  return [bits.join('  '), ...(node.children ?? []).map((child) => renderWatchTree(child, opts, `${indent}  `))].join('\n');
}

/** A whole frame: header (where, when) and the tree, or what is wrong instead of the tree. */
export function renderFrame(url: string, body: TreeNode | { unreachable: string }, opts: FrameOptions): string {
  const header = `mailbox tree --watch: ${url} at ${new Date(opts.now).toISOString()} (Ctrl-C to exit)`;
  const content = 'unreachable' in body ? paint(opts.colour, RED, `${body.unreachable}; asking again every second`) : renderWatchTree(body, opts);
  return `${paint(opts.colour, DIM, header)}\n${content}\n`;
}

/** Colours only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/** Draws a frame every second until SIGINT (exit 0) or an HTTP error (thrown: exit 1). */
export async function watchTree(base: string, headers: Record<string, string>, out: NodeJS.WriteStream = process.stdout, ca?: Buffer): Promise<void> {
  const tty = out.isTTY === true;
  const colour = useColour(out);
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSigint = (): void => stop();
  process.on('SIGINT', onSigint);
  try {
    let wasDown = false;
    for (let interrupted = false; !interrupted; ) {
      const started = performance.now();
      let body: TreeNode | { unreachable: string };
      try {
        body = (await getJson(`${base}/debug/tree`, { headers, signal: AbortSignal.timeout(5_000), ca })) as TreeNode;
        wasDown = false;
      } catch (err) {
        if (!(err instanceof UnreachableError)) throw err;
        body = { unreachable: err.message };
        // Off a terminal, say it once per outage rather than every second.
        if (!tty && wasDown) body = { unreachable: '' };
        wasDown = true;
      }
      const frame = 'unreachable' in body && body.unreachable === '' ? '' : renderFrame(base, body, { colour, now: Date.now() });
      if (frame) out.write(tty ? `${ESC}H${ESC}2J${frame}` : `${frame}\n`);
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, 1000 - (performance.now() - started)))));
      interrupted = await Promise.race([tick, stopped.then(() => true)]);
      clearTimeout(timer);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}
