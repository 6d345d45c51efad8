/** `mailbox tree [--admin URL] [--json]`: the supervisor state dump of a running server. */
import type { TreeNode } from '../runtime/api.ts';
import { parseArgs } from './args.ts';
import { adminUrl, getJson } from './common.ts';

export function renderTree(node: TreeNode, indent = ''): string {
  const bits = [`${indent}${node.path.split('/').pop() || '/'}`, `[${node.kind}]`, node.state];
  if (node.restarts > 0) bits.push(`restarts=${node.restarts}`);
  if (node.depths) bits.push(`ready=${node.depths.ready} leased=${node.depths.leased} delayed=${node.depths.delayed} dlq=${node.depths.dlq}`);
  if (node.lastCrash) bits.push(`last crash ${new Date(node.lastCrash.at).toISOString()}: ${node.lastCrash.reason}`);
  bits.push(`up ${(node.uptimeMs / 1000).toFixed(1)}s`);
  return [bits.join('  '), ...(node.children ?? []).map((c) => renderTree(c, `${indent}  `))].join('\n');
}

export async function tree(argv: string[]): Promise<void> {
  const args = parseArgs(argv, new Set(['json']));
  const dump = (await getJson(`${await adminUrl(args)}/debug/tree`)) as TreeNode;
  process.stdout.write(args.options.has('json') ? `${JSON.stringify(dump, null, 2)}\n` : `${renderTree(dump)}\n`);
}
