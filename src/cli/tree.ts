/** `mailbox tree [--admin URL] [--json | --watch]`: the supervisor state dump of a running server. */
import type { TreeNode } from '../runtime/api.ts';
import { parseCommand, usageError, type CommandSpec } from './args.ts';
import { ADMIN_OPTIONS, CA_HELP, adminHeaders, adminUrl, getJson, targetCa } from './common.ts';

const TREE_OPTIONS = { ...ADMIN_OPTIONS, json: { type: 'boolean' }, watch: { type: 'boolean' } } as const;

export const TREE: CommandSpec<typeof TREE_OPTIONS> = {
  command: 'tree',
  usage: 'usage: mailbox tree [--admin URL] [--ca FILE] [--token T | --token-file F] [--json | --watch] [--config FILE] [--data-dir D]',
  details: `Prints the supervisor state dump of a running server (GET /debug/tree).

  --admin URL      the admin port, default http://<metricsAddr> of the configuration
${CA_HELP}
  --token T        admin token, sent when found (else MAILBOX_TOKEN, --token-file /
                   MAILBOX_TOKEN_FILE, <dataDir>/admin.token); /debug needs it off loopback
  --json           the dump as JSON
  --watch          redraw every second (colours on a terminal unless NO_COLOR is set; crash
                   ages such as "crashed 12s ago: chaos"); a server that goes away is reported
                   and asked again every second; Ctrl-C exits 0
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`,
  options: TREE_OPTIONS,
};

export function renderTree(node: TreeNode, indent = ''): string {
  const bits = [`${indent}${node.path.split('/').pop() || '/'}`, `[${node.kind}]`, node.state];
  if (node.restarts > 0) bits.push(`restarts=${node.restarts}`);
  if (node.depths) bits.push(`ready=${node.depths.ready} leased=${node.depths.leased} delayed=${node.depths.delayed} dlq=${node.depths.dlq}`);
  if (node.info) bits.push(Object.entries(node.info).map(([k, v]) => `${k}=${v}`).join(' '));
  if (node.lastCrash) bits.push(`last crash ${new Date(node.lastCrash.at).toISOString()}: ${node.lastCrash.reason}`);
  bits.push(`up ${(node.uptimeMs / 1000).toFixed(1)}s`);
  return [bits.join('  '), ...(node.children ?? []).map((c) => renderTree(c, `${indent}  `))].join('\n');
}

export async function tree(argv: string[]): Promise<void> {
  const args = parseCommand(TREE, argv);
  if (!args) return;
  if (args.values.watch === true) {
    if (args.values.json === true) throw usageError(TREE, '--watch and --json do not go together');
    const { watchTree } = await import('./tree-watch.ts');
    return watchTree(await adminUrl(TREE, args.values), await adminHeaders(args.values), process.stdout, await targetCa(args.values));
  }
  const dump = (await getJson(`${await adminUrl(TREE, args.values)}/debug/tree`, { headers: await adminHeaders(args.values), ca: await targetCa(args.values) })) as TreeNode;
  process.stdout.write(args.values.json === true ? `${JSON.stringify(dump, null, 2)}\n` : `${renderTree(dump)}\n`);
}
