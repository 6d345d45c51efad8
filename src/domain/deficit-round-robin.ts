/**
 * Deficit round robin (Shreedhar & Varghese, 1995): flows with work take turns; each turn adds
 * `quantum` to a flow's deficit and the flow may spend up to it. A flow may overdraw by its
 * last item (a message is never split), and carries that debt into its next turn. A flow whose
 * work runs out forgets its deficit: an idle flow hoards nothing. Over any stretch in which
 * two flows both have work, what they are served differs by at most one quantum plus one item.
 *
 * Pure and generic: the shard's delivery pump uses it across tenants, and per tenant across
 * topics. Costs are whatever the caller counts (bytes here).
 */

/** What a flow spent in its turn, and whether it could spend more now. */
export interface ServeResult {
  spent: number;
  more: boolean;
}

export class DeficitRoundRobin<F> {
  private readonly deficits = new Map<F, number>();

  constructor(readonly quantum: number) {
    if (!(quantum > 0)) throw new RangeError('quantum must be positive');
  }

  /**
   * Rounds over `flows` (each of which has work) until every one is done or `budget` is spent.
   * `serve(flow, allowance)` spends up to `allowance` (it may overdraw by one item) and says
   * whether it has more. Returns the flows left with work, in the order they would go next.
   */
  run(flows: Iterable<F>, budget: number, serve: (flow: F, allowance: number) => ServeResult): F[] {
    let active = [...flows];
    let left = budget;
    while (active.length > 0 && left > 0) {
      const next: F[] = [];
      let progress = false;
      for (let i = 0; i < active.length; i++) {
        const flow = active[i]!;
        if (left <= 0) {
          next.push(flow);
          continue;
        }
        let deficit = (this.deficits.get(flow) ?? 0) + this.quantum;
        if (deficit <= 0) {
          // Still paying off an overdraft: its turn passes.
          this.deficits.set(flow, deficit);
          next.push(flow);
          progress = true;
          continue;
        }
        // A lone flow has no one to be fair to: it may take the rest of the budget at once
        // (one busy topic is served in whole chunks, not in quantum-sized ones).
        const lone = active.length === 1 && next.length === 0;
        const { spent, more } = serve(flow, lone ? left : Math.min(deficit, left));
        left -= spent;
        deficit -= spent;
        if (spent > 0) progress = true;
        if (lone) deficit = Math.min(deficit, this.quantum);
        // A flow that spent nothing is blocked (no credit): it is done for now, not hoarding.
        if (more && spent > 0) {
          this.deficits.set(flow, deficit);
          next.push(flow);
        } else {
          this.deficits.delete(flow);
        }
      }
      active = next;
      if (!progress) break;
    }
    return active;
  }

  /** The deficit a flow carries into its next turn (0: none), for tests and dumps. */
  deficitOf(flow: F): number {
    return this.deficits.get(flow) ?? 0;
  }

  /** Flows carrying a deficit or a debt. */
  get size(): number {
    return this.deficits.size;
  }

  /** Forgets a flow that no longer exists. */
  forget(flow: F): void {
    this.deficits.delete(flow);
  }
}
