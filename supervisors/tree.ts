/**
 * Helpers for the state dump: the tree as data, read alike by the admin endpoint, the CLI and
 * the chaos drills.
 */
import type { TreeNode } from '../src/runtime/api.ts';

/** Prefixes every path in `nodes` (and below) with `prefix`; child paths start with "/". */
export function rebase(nodes: readonly TreeNode[], prefix: string): TreeNode[] {
  return nodes.map((node) => {
    const moved: TreeNode = { ...node, path: `${prefix}${node.path}` };
    if (node.children) moved.children = rebase(node.children, prefix);
    return moved;
  });
}

/** The node at `path`, or undefined. */
export function findNode(root: TreeNode, path: string): TreeNode | undefined {
  if (root.path === path) return root;
  for (const child of root.children ?? []) {
    if (path === child.path || path.startsWith(`${child.path}/`)) return findNode(child, path);
  }
  return undefined;
}

/** Every node, depth first, root included. */
export function* walk(root: TreeNode): Generator<TreeNode> {
  yield root;
  for (const child of root.children ?? []) yield* walk(child);
}
